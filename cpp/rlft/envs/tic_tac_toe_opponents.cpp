#include "rlft/envs/tic_tac_toe_opponents.h"

#include <array>
#include <cmath>
#include <vector>

namespace rlft::tic_tac_toe {

namespace {

Board BoardFromIndex(int32_t index) {
  Board board{};
  for (auto& cell : board) {
    cell = static_cast<int8_t>(index % 3);
    index /= 3;
  }
  return board;
}

// Scores of all (board, player to move) pairs, filled from full boards down to the empty
// one so that every child's score is known before its parent's.
class MinimaxTable {
 public:
  MinimaxTable() : scores_(2 * static_cast<size_t>(kNumBoards), 0) {
    std::vector<int8_t> stones(static_cast<size_t>(kNumBoards));
    for (int32_t index = 0; index < kNumBoards; ++index) {
      int8_t count = 0;
      for (int8_t cell : BoardFromIndex(index)) {
        count = static_cast<int8_t>(count + (cell != kEmpty));
      }
      stones[static_cast<size_t>(index)] = count;
    }
    for (int count = kNumCells; count >= 0; --count) {
      for (int32_t index = 0; index < kNumBoards; ++index) {
        if (stones[static_cast<size_t>(index)] != count) continue;
        const Board board = BoardFromIndex(index);
        for (int8_t player = kAgent; player <= kOpponent; ++player) {
          scores_[Slot(index, player)] = Evaluate(board, player);
        }
      }
    }
  }

  int Score(int32_t index, int8_t to_move) const { return scores_[Slot(index, to_move)]; }

 private:
  static size_t Slot(int32_t index, int8_t to_move) {
    return static_cast<size_t>(to_move - 1) * static_cast<size_t>(kNumBoards) +
           static_cast<size_t>(index);
  }

  int8_t Evaluate(Board board, int8_t player) const {
    CellList empty{};
    const int num_empty = EmptyCells(board, empty);
    const int8_t winner = Winner(board);
    if (winner != 0) return static_cast<int8_t>((winner == player ? 1 : -1) * (1 + num_empty));
    if (num_empty == 0) return 0;
    int best = -100;
    for (int k = 0; k < num_empty; ++k) {
      const auto cell = static_cast<size_t>(empty[static_cast<size_t>(k)]);
      board[cell] = player;
      const int child = -Score(BoardIndex(board), OtherPlayer(player));
      board[cell] = kEmpty;
      if (child > best) best = child;
    }
    return static_cast<int8_t>(best);
  }

  std::vector<int8_t> scores_;
};

const MinimaxTable& Table() {
  static const MinimaxTable table;  // built once, thread-safe (C++11 static init)
  return table;
}

}  // namespace

int32_t RandomMove(const Board& board, Rng& rng) {
  unsigned empty = 0;
  for (size_t i = 0; i < board.size(); ++i) empty |= (board[i] == kEmpty ? 1u : 0u) << i;
  return RandomCell(static_cast<CellBits>(empty), rng);
}

int MinimaxScore(const Board& board, int8_t to_move) {
  return Table().Score(BoardIndex(board), to_move);
}

int GameValue(const Board& board, int8_t to_move) {
  const int score = MinimaxScore(board, to_move);
  return (score > 0) - (score < 0);
}

int MinimaxMoves(const Board& board, int8_t player, CellList& moves) {
  CellList empty{};
  const int num_empty = EmptyCells(board, empty);
  Board child = board;
  int best = -100;
  int count = 0;
  for (int k = 0; k < num_empty; ++k) {
    const int8_t cell = empty[static_cast<size_t>(k)];
    child[static_cast<size_t>(cell)] = player;
    const int score = -MinimaxScore(child, OtherPlayer(player));
    child[static_cast<size_t>(cell)] = kEmpty;
    if (score > best) {
      best = score;
      count = 0;
    }
    if (score == best) moves[static_cast<size_t>(count++)] = cell;
  }
  return count;
}

int32_t MinimaxMove(const Board& board, int8_t player, Rng& rng) {
  CellList moves{};
  const int count = MinimaxMoves(board, player, moves);
  return moves[static_cast<size_t>(rng.UniformInt(static_cast<uint64_t>(count)))];
}

namespace {

// A UCT tree node; children of a node are stored contiguously.
struct Node {
  int32_t first_child = -1;  // -1 until expanded
  int8_t num_children = 0;
  int8_t move = -1;          // cell played to reach this node
  int8_t mover = 0;          // the player who played `move`
  int32_t visits = 0;
  double value_sum = 0.0;    // sum of outcomes from `mover`'s view: +1 win, 0 draw, -1 loss
};

// Plays uniformly random moves to the end; returns the winner (0 = draw). Works on bit
// masks: rollouts are most of MCTS's time.
int8_t Rollout(const Board& board, int8_t to_move, Rng& rng) {
  std::array<unsigned, 2> bits{0u, 0u};  // stones of players 1 and 2
  for (size_t i = 0; i < board.size(); ++i) {
    if (board[i] != kEmpty) bits[static_cast<size_t>(board[i] - 1)] |= 1u << i;
  }
  for (;;) {
    if (HasLine(static_cast<CellBits>(bits[0]))) return kAgent;
    if (HasLine(static_cast<CellBits>(bits[1]))) return kOpponent;
    const auto empty = static_cast<CellBits>(kAllCells & ~(bits[0] | bits[1]));
    if (empty == 0) return 0;
    bits[static_cast<size_t>(to_move - 1)] |= 1u << RandomCell(empty, rng);
    to_move = OtherPlayer(to_move);
  }
}

// Index among `nodes[first, first + count)` picked uniformly from those with the most visits
// (most_visited) or from those not visited yet (!most_visited); -1 if there is none.
int32_t PickChild(const std::vector<Node>& nodes, int32_t first, int count, bool most_visited,
                  Rng& rng) {
  int32_t best_visits = -1;
  int ties = 0;
  int32_t chosen = -1;
  for (int32_t i = first; i < first + count; ++i) {
    const int32_t visits = nodes[static_cast<size_t>(i)].visits;
    if (!most_visited && visits != 0) continue;
    const int32_t key = most_visited ? visits : 0;
    if (key > best_visits) {
      best_visits = key;
      ties = 0;
    }
    if (key == best_visits) {
      // Reservoir sampling keeps the choice uniform among ties in one pass.
      ++ties;
      if (rng.UniformInt(static_cast<uint64_t>(ties)) == 0) chosen = i;
    }
  }
  return chosen;
}

}  // namespace

int32_t MctsMove(const Board& root_board, int8_t player, int32_t simulations, double exploration,
                 Rng& rng) {
  // One scratch tree per thread: its capacity is reused, so a move allocates nothing.
  thread_local std::vector<Node> nodes;
  thread_local std::vector<int32_t> path;
  nodes.clear();
  nodes.push_back(Node{});
  nodes[0].mover = OtherPlayer(player);

  for (int32_t sim = 0; sim < simulations; ++sim) {
    Board board = root_board;
    int8_t to_move = player;
    int32_t current = 0;
    path.clear();
    path.push_back(0);
    int8_t winner = 0;
    for (;;) {
      winner = Winner(board);
      if (winner != 0 || IsFull(board)) break;  // terminal node: its outcome is exact
      if (nodes[static_cast<size_t>(current)].first_child < 0) {
        CellList empty{};
        const int num_empty = EmptyCells(board, empty);
        const auto first = static_cast<int32_t>(nodes.size());
        for (int k = 0; k < num_empty; ++k) {
          Node child;
          child.move = empty[static_cast<size_t>(k)];
          child.mover = to_move;
          nodes.push_back(child);
        }
        nodes[static_cast<size_t>(current)].first_child = first;
        nodes[static_cast<size_t>(current)].num_children = static_cast<int8_t>(num_empty);
      }
      const Node& node = nodes[static_cast<size_t>(current)];
      int32_t next = PickChild(nodes, node.first_child, node.num_children, false, rng);
      const bool unvisited = next >= 0;
      if (!unvisited) {  // all children visited: UCT
        const double log_parent = std::log(static_cast<double>(node.visits));
        double best = -1e300;
        for (int32_t i = node.first_child; i < node.first_child + node.num_children; ++i) {
          const Node& child = nodes[static_cast<size_t>(i)];
          const double visits = static_cast<double>(child.visits);
          const double ucb =
              child.value_sum / visits + exploration * std::sqrt(log_parent / visits);
          if (ucb > best) {
            best = ucb;
            next = i;
          }
        }
      }
      current = next;
      path.push_back(current);
      board[static_cast<size_t>(nodes[static_cast<size_t>(current)].move)] = to_move;
      to_move = OtherPlayer(to_move);
      if (unvisited) {  // a new leaf: estimate it with one random playout
        winner = Rollout(board, to_move, rng);
        break;
      }
    }
    for (int32_t index : path) {
      Node& node = nodes[static_cast<size_t>(index)];
      ++node.visits;
      node.value_sum += winner == 0 ? 0.0 : (winner == node.mover ? 1.0 : -1.0);
    }
  }
  const Node& root = nodes[0];
  const int32_t best = PickChild(nodes, root.first_child, root.num_children, true, rng);
  return nodes[static_cast<size_t>(best)].move;
}

int32_t ChooseMove(const Board& board, int8_t player, const OpponentConfig& config, Rng& rng) {
  OpponentKind kind = config.kind;
  if (kind == OpponentKind::kNoisy) {
    kind = rng.Bernoulli(config.noise_prob) ? OpponentKind::kRandom : config.noisy_base;
  }
  switch (kind) {
    case OpponentKind::kMinimax: return MinimaxMove(board, player, rng);
    case OpponentKind::kMcts:
      return MctsMove(board, player, config.mcts_simulations, config.mcts_exploration, rng);
    case OpponentKind::kRandom:
    case OpponentKind::kNoisy: break;
  }
  return RandomMove(board, rng);
}

}  // namespace rlft::tic_tac_toe
