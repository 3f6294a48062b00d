// Tic-tac-toe move choosers: the env's opponents and the agents' minimax / MCTS players.
// Each works for either player on any non-terminal board whose cells are in {0, 1, 2}
// (callers check that; these functions never throw) and draws only from the Rng given.
#pragma once

#include <cstdint>

#include "rlft/core/rng.h"
#include "rlft/envs/tic_tac_toe.h"

namespace rlft::tic_tac_toe {

// Uniformly random empty cell.
int32_t RandomMove(const Board& board, Rng& rng);

// Depth-adjusted negamax score of `board` for the player to move, read from a table of
// all 2 x 3^9 (board, player to move) pairs computed once: +(1 + empty cells at the end)
// for a forced win, the negative for a forced loss, 0 for a draw. Larger is better, so a
// win sooner beats a win later and a loss later beats a loss sooner.
int MinimaxScore(const Board& board, int8_t to_move);

// Game value for the player to move: +1 forced win, 0 draw, -1 forced loss. For a terminal
// board: the outcome from that player's view.
int GameValue(const Board& board, int8_t to_move);

// The cells with the best depth-adjusted score (a subset of the value-preserving moves), in
// increasing order; returns how many. Precondition: board not terminal.
int MinimaxMoves(const Board& board, int8_t player, CellList& moves);

// Perfect play: a uniformly random choice among MinimaxMoves.
int32_t MinimaxMove(const Board& board, int8_t player, Rng& rng);

// UCT with uniformly random rollouts: `simulations` playouts from `board`, then the most
// visited move (ties uniformly at random).
int32_t MctsMove(const Board& board, int8_t player, int32_t simulations, double exploration,
                 Rng& rng);

// Dispatches on config.kind; noisy plays RandomMove with probability noise_prob, else the
// noisy_base player. Precondition: ValidateOpponent(config) passed, board not terminal.
int32_t ChooseMove(const Board& board, int8_t player, const OpponentConfig& config, Rng& rng);

}  // namespace rlft::tic_tac_toe
