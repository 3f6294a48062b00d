#include "rlft/envs/tic_tac_toe.h"

#include <cmath>

#include "rlft/core/check.h"
#include "rlft/envs/tic_tac_toe_opponents.h"

namespace rlft::tic_tac_toe {

int8_t Winner(const Board& board) {
  for (const auto& line : kLines) {
    const int8_t owner = board[static_cast<size_t>(line[0])];
    if (owner != kEmpty && owner == board[static_cast<size_t>(line[1])] &&
        owner == board[static_cast<size_t>(line[2])]) {
      return owner;
    }
  }
  return 0;
}

bool IsFull(const Board& board) {
  for (int8_t cell : board) {
    if (cell == kEmpty) return false;
  }
  return true;
}

int EmptyCells(const Board& board, CellList& cells) {
  int count = 0;
  for (int8_t i = 0; i < kNumCells; ++i) {
    if (board[static_cast<size_t>(i)] == kEmpty) cells[static_cast<size_t>(count++)] = i;
  }
  return count;
}

int32_t BoardIndex(const Board& board) {
  int32_t index = 0;
  for (int i = kNumCells - 1; i >= 0; --i) index = index * 3 + board[static_cast<size_t>(i)];
  return index;
}

namespace {
bool IsKind(OpponentKind kind) {
  return kind == OpponentKind::kRandom || kind == OpponentKind::kMinimax ||
         kind == OpponentKind::kMcts || kind == OpponentKind::kNoisy;
}
}  // namespace

void ValidateOpponent(const OpponentConfig& config) {
  Check(IsKind(config.kind), "opponent kind must be random, minimax, mcts or noisy, got ",
        static_cast<int>(config.kind));
  Check(config.mcts_simulations >= 1 && config.mcts_simulations <= kMaxMctsSimulations,
        "mcts_simulations must be in [1, ", kMaxMctsSimulations, "], got ",
        config.mcts_simulations);
  Check(std::isfinite(config.mcts_exploration) && config.mcts_exploration >= 0.0,
        "mcts_exploration must be a finite number >= 0, got ", config.mcts_exploration);
  Check(config.noise_prob >= 0.0 && config.noise_prob <= 1.0,  // false for NaN
        "noise_prob must be in [0, 1], got ", config.noise_prob);
  Check(config.noisy_base == OpponentKind::kMinimax || config.noisy_base == OpponentKind::kMcts,
        "noisy_base must be minimax or mcts, got ", static_cast<int>(config.noisy_base));
}

void Env::Validate(const Config& config) {
  ValidateOpponent(config.opponent);
  Check(config.starts == Starts::kAgentFirst || config.starts == Starts::kOpponentFirst ||
            config.starts == Starts::kRandom,
        "starts must be agent, opponent or random, got ", static_cast<int>(config.starts));
  Check(config.illegal_action == IllegalAction::kRandomMove ||
            config.illegal_action == IllegalAction::kLose,
        "illegal_action must be random_move or lose, got ",
        static_cast<int>(config.illegal_action));
}

std::vector<BufferSpec> Env::BufferSpecs(const Config&, int64_t num_envs) {
  return {
      {"board", DType::kInt8, {num_envs, kNumCells},
       "cells 0-8 row-major: 0 empty, 1 agent, 2 opponent"},
      {"legal_mask", DType::kBool, {num_envs, kNumCells},
       "cells the agent may play (empty cells; all false once the game is over)"},
      {"invalid_action", DType::kBool, {num_envs}, "the last agent action chose an occupied cell"},
      {"executed_action", DType::kInt32, {num_envs},
       "cell the agent's stone went to (-1 after reset or when an illegal action lost)"},
      {"opponent_action", DType::kInt32, {num_envs},
       "cell of the opponent's last move (-1 if it has not moved since the agent's action)"},
      {"winner", DType::kInt8, {num_envs}, "0 none yet or draw, 1 agent, 2 opponent"},
      {"step", DType::kInt32, {num_envs}, "agent actions taken this episode"},
  };
}

Env::Outputs::Outputs(const BufferMap& buffers, const Config&)
    : board(buffers.Get<int8_t>("board")),
      legal_mask(buffers.Get<bool>("legal_mask")),
      invalid_action(buffers.Get<bool>("invalid_action")),
      executed_action(buffers.Get<int32_t>("executed_action")),
      opponent_action(buffers.Get<int32_t>("opponent_action")),
      winner(buffers.Get<int8_t>("winner")),
      step(buffers.Get<int32_t>("step")) {}

void Env::Reset(Rng& rng, int64_t /*task_id*/) {
  board_.fill(kEmpty);
  agent_bits_ = 0;
  opponent_bits_ = 0;
  step_ = 0;
  invalid_action_ = false;
  executed_action_ = -1;
  opponent_action_ = -1;
  winner_ = 0;
  game_over_ = false;
  bool opponent_starts = config_.starts == Starts::kOpponentFirst;
  if (config_.starts == Starts::kRandom) opponent_starts = rng.UniformInt(2) == 1;
  if (opponent_starts) PlayOpponent(rng);  // cannot end the game on an empty board
}

int32_t Env::SearchOpponentMove(Rng& rng) const {
  return ChooseMove(board_, kOpponent, config_.opponent, rng);
}

}  // namespace rlft::tic_tac_toe
