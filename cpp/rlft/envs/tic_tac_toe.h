// Tic-tac-toe (paper §2.3): the agent plays 1 against an opponent playing 2 on a 3x3
// board of cells 0-8 (row-major, 0 = empty). Reward +1 win, 0 draw, -1 loss; the episode
// terminates on any of them. This header holds the rules, the configs and the single-
// instance Env that VectorEnv<Env> batches; the opponents live in tic_tac_toe_opponents.h.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "rlft/core/buffers.h"
#include "rlft/core/rng.h"
#include "rlft/core/vector_env.h"

namespace rlft::tic_tac_toe {

inline constexpr int kNumCells = 9;
inline constexpr int8_t kEmpty = 0;
inline constexpr int8_t kAgent = 1;
inline constexpr int8_t kOpponent = 2;
inline constexpr int32_t kNumBoards = 19683;  // 3^9: every assignment of {0, 1, 2} to cells

using Board = std::array<int8_t, kNumCells>;
using CellList = std::array<int8_t, kNumCells>;  // up to 9 cell indices, length kept apart

inline constexpr int8_t OtherPlayer(int8_t player) { return static_cast<int8_t>(3 - player); }

// The eight winning lines: rows, columns, diagonals.
inline constexpr std::array<std::array<int8_t, 3>, 8> kLines = {{
    {{0, 1, 2}}, {{3, 4, 5}}, {{6, 7, 8}},
    {{0, 3, 6}}, {{1, 4, 7}}, {{2, 5, 8}},
    {{0, 4, 8}}, {{2, 4, 6}},
}};

// Cell sets as 9-bit masks (bit i = cell i). The env's hot path uses these: a table lookup
// replaces the per-line comparisons and their hard-to-predict branches.
using CellBits = uint16_t;
inline constexpr CellBits kAllCells = 0x1FF;

namespace detail {
constexpr std::array<bool, 512> MakeLineTable() {
  std::array<bool, 512> table{};
  for (unsigned bits = 0; bits < 512; ++bits) {
    for (const auto& line : kLines) {
      const unsigned mask = (1u << line[0]) | (1u << line[1]) | (1u << line[2]);
      if ((bits & mask) == mask) table[bits] = true;
    }
  }
  return table;
}
struct CellTableEntry {
  int8_t count;
  std::array<int8_t, 9> nth;  // the set cells in increasing order
};
constexpr std::array<CellTableEntry, 512> MakeCellTable() {
  std::array<CellTableEntry, 512> table{};
  for (unsigned bits = 0; bits < 512; ++bits) {
    int8_t count = 0;
    for (int8_t cell = 0; cell < 9; ++cell) {
      if (bits & (1u << cell)) table[bits].nth[static_cast<size_t>(count++)] = cell;
    }
    table[bits].count = count;
  }
  return table;
}
// Bits -> one byte per cell (1 if set): writes a legal mask with one 9-byte copy.
constexpr std::array<std::array<bool, 9>, 512> MakeCellBytesTable() {
  std::array<std::array<bool, 9>, 512> table{};
  for (unsigned bits = 0; bits < 512; ++bits) {
    for (unsigned cell = 0; cell < 9; ++cell) table[bits][cell] = (bits >> cell) & 1u;
  }
  return table;
}
inline constexpr std::array<bool, 512> kHasLine = MakeLineTable();
inline constexpr std::array<std::array<bool, 9>, 512> kCellBytes = MakeCellBytesTable();
inline constexpr std::array<CellTableEntry, 512> kCellTable = MakeCellTable();
}  // namespace detail

// Whether the stones `bits` of one player contain a full line.
inline bool HasLine(CellBits bits) { return detail::kHasLine[bits & kAllCells]; }
// Uniformly random cell of a non-empty set (one UniformInt draw, cells in increasing order).
inline int32_t RandomCell(CellBits bits, Rng& rng) {
  const auto& entry = detail::kCellTable[bits & kAllCells];
  return entry.nth[static_cast<size_t>(rng.UniformInt(static_cast<uint64_t>(entry.count)))];
}

// The player owning a full line, or 0. Boards no game can reach may hold lines of both
// players; then the first line in kLines order decides (only reachable boards matter).
int8_t Winner(const Board& board);
bool IsFull(const Board& board);
inline bool IsTerminal(const Board& board) { return Winner(board) != 0 || IsFull(board); }
// Writes the empty cells in increasing order into `cells`; returns how many.
int EmptyCells(const Board& board, CellList& cells);
// Base-3 index of a board whose cells are all in {0, 1, 2}: sum cell[i] * 3^i.
int32_t BoardIndex(const Board& board);

enum class OpponentKind : int8_t { kRandom = 0, kMinimax = 1, kMcts = 2, kNoisy = 3 };

// 1000 UCT simulations (the paper gives no count; OpenSpiel's MCTS example uses 1000). Measured
// over 1000 games each: it wins 94% against a random player (perfect minimax: 88%) and
// loses under 2% against perfect play, close to the "optimal" opponent of the paper, at
// about 0.35 ms per move on one core. 300 simulations lose 13%, 100 lose 25%.
inline constexpr int32_t kDefaultMctsSimulations = 1000;
inline constexpr int32_t kMaxMctsSimulations = 1000000;
// UCT constant for returns in [-1, 1] (OpenSpiel's MCTS bot uses 2 on the same scale).
inline constexpr double kDefaultMctsExploration = 2.0;

struct OpponentConfig {
  OpponentKind kind = OpponentKind::kRandom;
  int32_t mcts_simulations = kDefaultMctsSimulations;  // UCT simulations per move
  double mcts_exploration = kDefaultMctsExploration;   // UCT exploration constant c
  double noise_prob = 0.5;  // noisy: probability of a uniformly random move
  OpponentKind noisy_base = OpponentKind::kMcts;  // noisy: the player used otherwise
};

// Throws InvalidArgument naming the bad field.
void ValidateOpponent(const OpponentConfig& config);

enum class Starts : int8_t { kAgentFirst = 0, kOpponentFirst = 1, kRandom = 2 };
// What an occupied-cell action does: the paper's rule replaces it by a uniformly random
// legal move; kLose ends the game as a loss.
enum class IllegalAction : int8_t { kRandomMove = 0, kLose = 1 };

struct Config {
  OpponentConfig opponent;
  Starts starts = Starts::kAgentFirst;  // kRandom: a fair coin from the row's RNG per episode
  IllegalAction illegal_action = IllegalAction::kRandomMove;
};

// One game. When the opponent starts, its first move is made in Reset. Reset ignores
// task_id: every episode starts from the empty board.
class Env {
 public:
  using Config = tic_tac_toe::Config;

  static void Validate(const Config& config);
  static int32_t NumActions(const Config&) { return kNumCells; }
  static std::vector<BufferSpec> BufferSpecs(const Config& config, int64_t num_envs);

  struct Outputs {
    Outputs(const BufferMap& buffers, const Config& config);
    int8_t* board;
    bool* legal_mask;
    bool* invalid_action;
    int32_t* executed_action;
    int32_t* opponent_action;
    int8_t* winner;
    int32_t* step;
  };

  explicit Env(const Config& config) : config_(config) {}

  void Reset(Rng& rng, int64_t task_id);
  // Step and Write are the batched loop's hot path: defined below, inline, so that
  // VectorEnv's row loop compiles into one function without calls per row.
  StepResult Step(int32_t action, Rng& rng);
  void Write(int64_t row, const Outputs& outputs) const;

  const Board& board() const { return board_; }
  int8_t winner() const { return winner_; }
  bool game_over() const { return game_over_; }

 private:
  CellBits EmptyBits() const {
    return static_cast<CellBits>(kAllCells & ~(agent_bits_ | opponent_bits_));
  }
  // Puts `player`'s stone on `cell`; updates winner_ and game_over_.
  void Place(int32_t cell, int8_t player);
  // Plays the opponent's move (updates winner_ and game_over_).
  void PlayOpponent(Rng& rng);
  // The minimax / MCTS / noisy opponent's move (out of line: the random one is inline).
  int32_t SearchOpponentMove(Rng& rng) const;

  Config config_;
  Board board_{};
  CellBits agent_bits_ = 0;     // board_ as bit masks, one per player
  CellBits opponent_bits_ = 0;
  int32_t step_ = 0;             // agent steps taken this episode
  bool invalid_action_ = false;  // the last agent action chose an occupied cell
  int32_t executed_action_ = -1;
  int32_t opponent_action_ = -1;
  int8_t winner_ = 0;
  bool game_over_ = false;
};

inline void Env::Place(int32_t cell, int8_t player) {
  board_[static_cast<size_t>(cell)] = player;
  CellBits& bits = player == kAgent ? agent_bits_ : opponent_bits_;
  bits = static_cast<CellBits>(bits | (1u << cell));
  if (HasLine(bits)) winner_ = player;
  game_over_ = winner_ != 0 || (agent_bits_ | opponent_bits_) == kAllCells;
}

inline void Env::PlayOpponent(Rng& rng) {
  // The random opponent draws exactly as RandomMove would, without building a Board.
  const int32_t move = config_.opponent.kind == OpponentKind::kRandom ? RandomCell(EmptyBits(), rng)
                                                                      : SearchOpponentMove(rng);
  Place(move, kOpponent);
  opponent_action_ = move;
}

inline StepResult Env::Step(int32_t action, Rng& rng) {
  StepResult result;
  ++step_;
  opponent_action_ = -1;
  const CellBits empty = EmptyBits();
  invalid_action_ = (empty & (1u << action)) == 0;
  int32_t cell = action;
  if (invalid_action_) {
    if (config_.illegal_action == IllegalAction::kLose) {
      executed_action_ = -1;
      winner_ = kOpponent;
      game_over_ = true;
      result.reward = -1.0;
      result.terminated = true;
      return result;
    }
    cell = RandomCell(empty, rng);
  }
  Place(cell, kAgent);
  executed_action_ = cell;
  if (!game_over_) PlayOpponent(rng);
  result.reward = winner_ == kAgent ? 1.0 : (winner_ == kOpponent ? -1.0 : 0.0);
  result.terminated = game_over_;
  return result;
}

inline void Env::Write(int64_t row, const Outputs& outputs) const {
  const int64_t offset = row * kNumCells;
  std::memcpy(outputs.board + offset, board_.data(), kNumCells);
  std::memcpy(outputs.legal_mask + offset, detail::kCellBytes[game_over_ ? 0 : EmptyBits()].data(),
              kNumCells);
  outputs.invalid_action[row] = invalid_action_;
  outputs.executed_action[row] = executed_action_;
  outputs.opponent_action[row] = opponent_action_;
  outputs.winner[row] = winner_;
  outputs.step[row] = step_;
}

}  // namespace rlft::tic_tac_toe
