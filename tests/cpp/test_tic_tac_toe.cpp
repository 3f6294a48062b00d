// Tic-tac-toe: rules, the env's step/reset/illegal-move behaviour, and the opponents
// (legality everywhere, minimax optimality by exhaustive search, MCTS strength).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "rlft/core/buffers.h"
#include "rlft/core/vector_env.h"
#include "rlft/envs/tic_tac_toe.h"
#include "rlft/envs/tic_tac_toe_opponents.h"

namespace rlft::tic_tac_toe {
namespace {

using Vec = VectorEnv<Env>;
using Position = std::pair<Board, int8_t>;  // board, player to move

// Every non-terminal position reachable from the empty board when `first` moves first.
std::vector<Position> ReachablePositions(int8_t first) {
  std::set<std::pair<int32_t, int8_t>> seen;
  std::vector<Position> out;
  std::function<void(Board&, int8_t)> visit = [&](Board& board, int8_t to_move) {
    if (IsTerminal(board) || !seen.insert({BoardIndex(board), to_move}).second) return;
    out.emplace_back(board, to_move);
    for (size_t cell = 0; cell < board.size(); ++cell) {
      if (board[cell] != kEmpty) continue;
      board[cell] = to_move;
      visit(board, OtherPlayer(to_move));
      board[cell] = kEmpty;
    }
  };
  Board empty{};
  visit(empty, first);
  return out;
}

// Plain negamax without the table: the game value for the player to move.
int BruteForceValue(Board& board, int8_t to_move) {
  const int8_t winner = Winner(board);
  if (winner != 0) return winner == to_move ? 1 : -1;
  if (IsFull(board)) return 0;
  int best = -2;
  for (size_t cell = 0; cell < board.size(); ++cell) {
    if (board[cell] != kEmpty) continue;
    board[cell] = to_move;
    best = std::max(best, -BruteForceValue(board, OtherPlayer(to_move)));
    board[cell] = kEmpty;
  }
  return best;
}

Board FromString(const char* digits) {
  Board board{};
  for (size_t i = 0; i < board.size(); ++i) board[i] = static_cast<int8_t>(digits[i] - '0');
  return board;
}

bool IsEmptyCell(const Board& board, int32_t cell) {
  return cell >= 0 && cell < kNumCells && board[static_cast<size_t>(cell)] == kEmpty;
}

TEST(TicTacToeRules, EveryLineWinsForBothPlayers) {
  for (const auto& line : kLines) {
    for (int8_t player : {kAgent, kOpponent}) {
      Board board{};
      for (int8_t cell : line) board[static_cast<size_t>(cell)] = player;
      EXPECT_EQ(Winner(board), player);
      EXPECT_TRUE(IsTerminal(board));
      board[static_cast<size_t>(line[1])] = OtherPlayer(player);  // broken line
      EXPECT_EQ(Winner(board), 0);
    }
  }
}

TEST(TicTacToeRules, FullBoardWithoutLineIsADraw) {
  const Board draw = FromString("121112212");
  EXPECT_EQ(Winner(draw), 0);
  EXPECT_TRUE(IsFull(draw));
  EXPECT_TRUE(IsTerminal(draw));
  const Board open = FromString("120112212");
  EXPECT_FALSE(IsTerminal(open));
  CellList cells{};
  ASSERT_EQ(EmptyCells(open, cells), 1);
  EXPECT_EQ(cells[0], 2);
}

TEST(TicTacToeRules, ReachableStateCountsMatchTheKnownTotals) {
  // 5478 legal positions, 958 of them terminal: 4520 non-terminal per choice of who starts.
  EXPECT_EQ(ReachablePositions(kAgent).size(), 4520u);
  EXPECT_EQ(ReachablePositions(kOpponent).size(), 4520u);
}

// Plays random agent actions against a vector env and checks every result against the rules.
TEST(TicTacToeEnv, RandomGamesEndOnEveryLineAndOnDraws) {
  Config config;
  config.starts = Starts::kRandom;
  const int64_t batch = 64;
  Vec vec(config, batch, 5, 1);
  OwnedBuffers buffers(Vec::BufferSpecs(config, batch));
  vec.Bind(buffers.map());
  vec.Reset(std::nullopt, nullptr, nullptr);
  std::set<std::pair<int, int8_t>> lines_seen;  // (line, winner)
  int draws = 0;
  Rng agent(99, 0);
  std::vector<int32_t> actions(batch);
  const auto* board = buffers.Get<int8_t>("board");
  const auto* legal = buffers.Get<bool>("legal_mask");
  for (int t = 0; t < 600; ++t) {
    for (int64_t i = 0; i < batch; ++i) {
      std::vector<int32_t> options;
      for (int32_t c = 0; c < kNumCells; ++c) {
        if (legal[i * kNumCells + c]) options.push_back(c);
      }
      actions[static_cast<size_t>(i)] =
          options.empty() ? 0 : options[agent.UniformInt(options.size())];
    }
    vec.Step(actions.data());
    for (int64_t i = 0; i < batch; ++i) {
      Board b{};
      std::copy(board + i * kNumCells, board + (i + 1) * kNumCells, b.begin());
      const bool done = buffers.Get<bool>("terminated")[i];
      const float reward = buffers.Get<float>("reward")[i];
      ASSERT_FALSE(buffers.Get<bool>("invalid_action")[i]);
      ASSERT_EQ(done, vec.needs_reset(i));
      if (!done) {
        ASSERT_FALSE(IsTerminal(b));
        ASSERT_EQ(reward, 0.0f);
        continue;
      }
      ASSERT_TRUE(IsTerminal(b));
      const int8_t winner = Winner(b);
      ASSERT_EQ(buffers.Get<int8_t>("winner")[i], winner);
      ASSERT_EQ(reward, winner == kAgent ? 1.0f : (winner == kOpponent ? -1.0f : 0.0f));
      for (int c = 0; c < kNumCells; ++c) ASSERT_FALSE(legal[i * kNumCells + c]);
      if (winner == 0) ++draws;
      for (size_t l = 0; l < kLines.size(); ++l) {
        const auto& line = kLines[l];
        const bool full = std::all_of(line.begin(), line.end(), [&](int8_t cell) {
          return b[static_cast<size_t>(cell)] == winner;
        });
        if (full && winner != 0) {
          lines_seen.insert({static_cast<int>(l), winner});
        }
      }
    }
  }
  EXPECT_EQ(lines_seen.size(), 16u);  // all 8 lines, both players
  EXPECT_GT(draws, 0);
}

TEST(TicTacToeEnv, WhoStartsIsConfigurable) {
  for (Starts starts : {Starts::kAgentFirst, Starts::kOpponentFirst, Starts::kRandom}) {
    Config config;
    config.starts = starts;
    const int64_t batch = 200;
    Vec vec(config, batch, 1, 1);
    OwnedBuffers buffers(Vec::BufferSpecs(config, batch));
    vec.Bind(buffers.map());
    vec.Reset(std::nullopt, nullptr, nullptr);
    int opponent_started = 0;
    for (int64_t i = 0; i < batch; ++i) {
      const int32_t opp = buffers.Get<int32_t>("opponent_action")[i];
      int stones = 0;
      for (int c = 0; c < kNumCells; ++c) {
        stones += buffers.Get<int8_t>("board")[i * kNumCells + c] != 0;
      }
      ASSERT_EQ(stones, opp >= 0 ? 1 : 0);
      if (opp >= 0) {
        ASSERT_EQ(buffers.Get<int8_t>("board")[i * kNumCells + opp], kOpponent);
        ++opponent_started;
      }
      ASSERT_EQ(buffers.Get<int32_t>("step")[i], 0);
    }
    // agent first: never; opponent first: always; random: a fair coin (200 flips).
    int64_t expected_min = 60, expected_max = 140;
    if (starts != Starts::kRandom) {
      expected_min = expected_max = starts == Starts::kAgentFirst ? 0 : batch;
    }
    EXPECT_GE(opponent_started, expected_min);
    EXPECT_LE(opponent_started, expected_max);
  }
}

TEST(TicTacToeEnv, IllegalActionPlaysARandomLegalMoveByDefault) {
  Config config;
  config.starts = Starts::kOpponentFirst;
  Env env(config);
  Rng rng(3, 0);
  for (int game = 0; game < 50; ++game) {
    env.Reset(rng, -1);
    int32_t occupied = -1;
    for (int32_t c = 0; c < kNumCells; ++c) {
      if (env.board()[static_cast<size_t>(c)] == kOpponent) occupied = c;
    }
    ASSERT_GE(occupied, 0);
    const Board before = env.board();
    const StepResult result = env.Step(occupied, rng);
    EXPECT_FALSE(result.terminated);  // three stones on the board cannot end a game
    OwnedBuffers buffers(Env::BufferSpecs(config, 1));
    Env::Outputs outputs(buffers.map(), config);
    env.Write(0, outputs);
    EXPECT_TRUE(outputs.invalid_action[0]);
    const int32_t executed = outputs.executed_action[0];
    ASSERT_TRUE(IsEmptyCell(before, executed));
    EXPECT_EQ(env.board()[static_cast<size_t>(executed)], kAgent);
    EXPECT_EQ(env.board()[static_cast<size_t>(occupied)], kOpponent);
    EXPECT_TRUE(IsEmptyCell(before, outputs.opponent_action[0]));
  }
}

TEST(TicTacToeEnv, IllegalActionLosesWhenConfigured) {
  Config config;
  config.starts = Starts::kOpponentFirst;
  config.illegal_action = IllegalAction::kLose;
  Env env(config);
  Rng rng(4, 0);
  env.Reset(rng, -1);
  const Board before = env.board();
  const int32_t occupied =
      static_cast<int32_t>(std::find(before.begin(), before.end(), kOpponent) - before.begin());
  const StepResult result = env.Step(occupied, rng);
  EXPECT_TRUE(result.terminated);
  EXPECT_EQ(result.reward, -1.0);
  EXPECT_EQ(env.winner(), kOpponent);
  EXPECT_EQ(env.board(), before);
  OwnedBuffers buffers(Env::BufferSpecs(config, 1));
  Env::Outputs outputs(buffers.map(), config);
  env.Write(0, outputs);
  EXPECT_TRUE(outputs.invalid_action[0]);
  EXPECT_EQ(outputs.executed_action[0], -1);
  EXPECT_EQ(outputs.opponent_action[0], -1);
  for (int c = 0; c < kNumCells; ++c) EXPECT_FALSE(outputs.legal_mask[c]);
}

TEST(TicTacToeEnv, SameSeedSameGamesWhateverBatchAndThreads) {
  Config config;
  config.starts = Starts::kRandom;
  config.opponent.kind = OpponentKind::kNoisy;
  config.opponent.mcts_simulations = 30;
  auto run = [&](int64_t batch, int threads) {
    Vec vec(config, batch, 11, threads);
    OwnedBuffers buffers(Vec::BufferSpecs(config, batch));
    vec.Bind(buffers.map());
    vec.Reset(std::nullopt, nullptr, nullptr);
    std::vector<int8_t> trace;
    std::vector<int32_t> actions(static_cast<size_t>(batch));
    for (int t = 0; t < 40; ++t) {
      for (int64_t i = 0; i < batch; ++i) {
        actions[static_cast<size_t>(i)] = (t * 7 + static_cast<int32_t>(i)) % 9;
      }
      vec.Step(actions.data());
      for (int64_t i = 0; i < 3; ++i) {  // the rows every batch size shares
        trace.insert(trace.end(), buffers.Get<int8_t>("board") + i * 9,
                     buffers.Get<int8_t>("board") + (i + 1) * 9);
        trace.push_back(static_cast<int8_t>(buffers.Get<float>("reward")[i]));
      }
    }
    return trace;
  };
  const auto reference = run(3, 1);
  EXPECT_EQ(run(300, 2), reference);
  EXPECT_EQ(run(1000, 2), reference);
}

TEST(TicTacToeOpponents, EveryOpponentPlaysOnlyEmptyCells) {
  OpponentConfig random, minimax, mcts, noisy;
  minimax.kind = OpponentKind::kMinimax;
  mcts.kind = OpponentKind::kMcts;
  mcts.mcts_simulations = 20;
  noisy.kind = OpponentKind::kNoisy;
  noisy.mcts_simulations = 20;
  Rng rng(8, 0);
  for (int8_t first : {kAgent, kOpponent}) {
    for (const auto& [board, to_move] : ReachablePositions(first)) {
      for (const OpponentConfig* config : {&random, &minimax, &mcts, &noisy}) {
        ASSERT_TRUE(IsEmptyCell(board, ChooseMove(board, to_move, *config, rng)));
      }
    }
  }
}

TEST(TicTacToeOpponents, MinimaxTableMatchesBruteForceAndKeepsTheValue) {
  for (int8_t first : {kAgent, kOpponent}) {
    for (auto [board, to_move] : ReachablePositions(first)) {
      const int value = BruteForceValue(board, to_move);
      ASSERT_EQ(GameValue(board, to_move), value);
      CellList moves{};
      const int count = MinimaxMoves(board, to_move, moves);
      ASSERT_GE(count, 1);
      for (int k = 0; k < count; ++k) {
        Board child = board;
        child[static_cast<size_t>(moves[static_cast<size_t>(k)])] = to_move;
        ASSERT_EQ(-BruteForceValue(child, OtherPlayer(to_move)), value);
      }
    }
  }
  EXPECT_EQ(GameValue(Board{}, kAgent), 0);  // tic-tac-toe is a draw
}

TEST(TicTacToeOpponents, MinimaxPrefersTheQuickestWin) {
  // Player 2 (stones 0, 1) wins now at 2; 3 or 6 would also win, by a double threat, later.
  const Board board = FromString("220010010");
  for (size_t slower : {3u, 6u}) {
    Board child = board;
    child[slower] = kOpponent;
    ASSERT_EQ(GameValue(child, kAgent), -1);
  }
  CellList moves{};
  ASSERT_EQ(MinimaxMoves(board, kOpponent, moves), 1);
  EXPECT_EQ(moves[0], 2);
}

// Counts the games minimax-as-`minimax_player` loses over every strategy of the other side
// and every tie-breaking choice of minimax itself.
int CountMinimaxLosses(Board& board, int8_t to_move, int8_t minimax_player) {
  const int8_t winner = Winner(board);
  if (winner != 0) return winner == minimax_player ? 0 : 1;
  if (IsFull(board)) return 0;
  CellList moves{};
  const int count = to_move == minimax_player ? MinimaxMoves(board, to_move, moves)
                                              : EmptyCells(board, moves);
  int losses = 0;
  for (int k = 0; k < count; ++k) {
    const auto cell = static_cast<size_t>(moves[static_cast<size_t>(k)]);
    board[cell] = to_move;
    losses += CountMinimaxLosses(board, OtherPlayer(to_move), minimax_player);
    board[cell] = kEmpty;
  }
  return losses;
}

TEST(TicTacToeOpponents, MinimaxNeverLosesAgainstAnyStrategy) {
  for (int8_t minimax_player : {kOpponent, kAgent}) {
    for (int8_t first : {kAgent, kOpponent}) {
      Board board{};
      EXPECT_EQ(CountMinimaxLosses(board, first, minimax_player), 0);
    }
  }
}

// Plays `games` games of `a` (player 1, moving first on even games) against `b` (player 2);
// returns {wins of a, losses of a}.
std::pair<int, int> PlayMatch(const OpponentConfig& a, const OpponentConfig& b, int games,
                              uint64_t seed) {
  int wins = 0, losses = 0;
  for (int g = 0; g < games; ++g) {
    Rng rng(seed, static_cast<uint64_t>(g));
    Board board{};
    int8_t to_move = g % 2 == 0 ? kAgent : kOpponent;
    while (!IsTerminal(board)) {
      const int32_t move = ChooseMove(board, to_move, to_move == kAgent ? a : b, rng);
      board[static_cast<size_t>(move)] = to_move;
      to_move = OtherPlayer(to_move);
    }
    wins += Winner(board) == kAgent;
    losses += Winner(board) == kOpponent;
  }
  return {wins, losses};
}

TEST(TicTacToeOpponents, MctsBeatsRandomClearly) {
  OpponentConfig mcts, random;
  mcts.kind = OpponentKind::kMcts;
  const auto [wins, losses] = PlayMatch(mcts, random, 200, 1);
  EXPECT_GE(wins, 160);  // minimax wins about 88% of such games
  EXPECT_LE(losses, 2);
}

TEST(TicTacToeOpponents, MctsRarelyLosesToMinimax) {
  OpponentConfig mcts, minimax;
  mcts.kind = OpponentKind::kMcts;
  minimax.kind = OpponentKind::kMinimax;
  const auto [wins, losses] = PlayMatch(mcts, minimax, 100, 2);
  EXPECT_EQ(wins, 0);
  EXPECT_LE(losses, 6);  // about 2% expected
}

TEST(TicTacToeOpponents, NoisyMixesRandomAndBase) {
  OpponentConfig noisy, minimax, random;
  noisy.kind = OpponentKind::kNoisy;
  noisy.noisy_base = OpponentKind::kMinimax;
  minimax.kind = OpponentKind::kMinimax;
  const auto [noisy_wins, noisy_losses] = PlayMatch(random, noisy, 400, 3);
  const auto [minimax_wins, minimax_losses] = PlayMatch(random, minimax, 400, 3);
  EXPECT_EQ(minimax_wins, 0);
  EXPECT_GT(noisy_wins, 10);   // the random moves let a random player win sometimes
  EXPECT_GT(noisy_losses, 100);  // but it still beats random most of the time
  (void)minimax_losses;
  noisy.noise_prob = 0.0;  // no noise: exactly the base player's strength
  EXPECT_EQ(PlayMatch(random, noisy, 200, 4).first, 0);
}

TEST(TicTacToeOpponents, SameRngSameMove) {
  OpponentConfig mcts;
  mcts.kind = OpponentKind::kMcts;
  mcts.mcts_simulations = 200;
  const Board board = FromString("100020000");
  for (uint64_t stream = 0; stream < 20; ++stream) {
    Rng a(5, stream), b(5, stream);
    EXPECT_EQ(ChooseMove(board, kAgent, mcts, a), ChooseMove(board, kAgent, mcts, b));
    EXPECT_EQ(a.state(), b.state());
  }
}

TEST(TicTacToeConfig, ValidateNamesTheBadField) {
  auto message = [](const Config& config) {
    try {
      Env::Validate(config);
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  Config config;
  EXPECT_EQ(message(config), "");
  config.opponent.mcts_simulations = 0;
  EXPECT_NE(message(config).find("mcts_simulations"), std::string::npos);
  config = Config{};
  config.opponent.noise_prob = 1.5;
  EXPECT_NE(message(config).find("noise_prob"), std::string::npos);
  config = Config{};
  config.opponent.noisy_base = OpponentKind::kRandom;
  EXPECT_NE(message(config).find("noisy_base"), std::string::npos);
  config = Config{};
  config.opponent.kind = static_cast<OpponentKind>(9);
  EXPECT_NE(message(config).find("opponent kind"), std::string::npos);
  config = Config{};
  config.starts = static_cast<Starts>(7);
  EXPECT_NE(message(config).find("starts"), std::string::npos);
  config = Config{};
  config.illegal_action = static_cast<IllegalAction>(7);
  EXPECT_NE(message(config).find("illegal_action"), std::string::npos);
}

}  // namespace
}  // namespace rlft::tic_tac_toe
