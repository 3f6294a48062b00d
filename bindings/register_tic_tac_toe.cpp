// Tic-tac-toe in rlft._core: the configs, the vector env, and batched move choosing and
// position analysis for agents (minimax / MCTS players reuse the env's opponents).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <mutex>
#include <string>

#include "registry.h"
#include "rlft/core/thread_pool.h"
#include "rlft/envs/tic_tac_toe.h"
#include "rlft/envs/tic_tac_toe_opponents.h"
#include "vector_env_binding.h"

namespace rlft::bindings {

namespace py = pybind11;
namespace ttt = rlft::tic_tac_toe;

namespace {

// Checks boards: int8[B, 9], C-contiguous, cells in {0, 1, 2}; returns B.
int64_t CheckBoards(const py::array& boards) {
  const int64_t rows = boards.ndim() >= 1 ? static_cast<int64_t>(boards.shape(0)) : 0;
  if (boards.ndim() != 2) {
    ThrowInvalid("boards must be a 2-D array of shape (B, 9), got ", boards.ndim(),
                 " dimension(s)");
  }
  CheckArray(boards, DType::kInt8, {rows, ttt::kNumCells}, "boards", false);
  const auto* cells = static_cast<const int8_t*>(boards.data());
  for (int64_t i = 0; i < rows * ttt::kNumCells; ++i) {
    Check(cells[i] >= 0 && cells[i] <= 2, "boards row ", i / ttt::kNumCells, " cell ",
          i % ttt::kNumCells, " is ", static_cast<int>(cells[i]), "; cells must be 0, 1 or 2");
  }
  return rows;
}

ttt::Board RowBoard(const int8_t* cells, int64_t row) {
  ttt::Board board{};
  std::memcpy(board.data(), cells + row * ttt::kNumCells, board.size());
  return board;
}

void CheckPlayer(int player) {
  Check(player == ttt::kAgent || player == ttt::kOpponent, "player must be 1 or 2, got ", player);
}

// Batched move choosing for agents: row i draws from its own Rng(seed, i), so a row's move
// depends only on (board, player, seed, i), never on the batch or the thread count.
class MoveChooser {
 public:
  MoveChooser(const ttt::OpponentConfig& config, int num_threads)
      : config_(config), pool_(num_threads) {
    ttt::ValidateOpponent(config_);
    Check(num_threads >= 1, "num_threads must be >= 1, got ", num_threads);
  }

  py::array_t<int32_t> Choose(const py::array& boards, int player, uint64_t seed,
                              const std::optional<py::array>& out) {
    CheckPlayer(player);
    const int64_t rows = CheckBoards(boards);
    const auto* cells = static_cast<const int8_t*>(boards.data());
    for (int64_t i = 0; i < rows; ++i) {
      Check(!ttt::IsTerminal(RowBoard(cells, i)), "boards row ", i,
            " is a finished game (a line or a full board): there is no move to choose");
    }
    py::array_t<int32_t> moves;
    if (out.has_value()) {
      CheckArray(*out, DType::kInt32, {rows}, "out", true);
      moves = py::reinterpret_borrow<py::array_t<int32_t>>(*out);
    } else {
      moves = py::array_t<int32_t>(rows);
    }
    int32_t* moves_data = moves.mutable_data();
    const auto mover = static_cast<int8_t>(player);
    const bool slow = config_.kind == ttt::OpponentKind::kMcts ||
                      config_.kind == ttt::OpponentKind::kNoisy;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);  // the pool serves one call at a time
      pool_.ParallelFor(
          rows,
          [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
              Rng rng(seed, static_cast<uint64_t>(i));
              moves_data[i] = ttt::ChooseMove(RowBoard(cells, i), mover, config_, rng);
            }
          },
          slow ? 1 : 256);
    }
    return moves;
  }

  const ttt::OpponentConfig& config() const { return config_; }

 private:
  ttt::OpponentConfig config_;
  ThreadPool pool_;
  std::mutex mutex_;
};

py::tuple Status(const py::array& boards) {
  const int64_t rows = CheckBoards(boards);
  const auto* cells = static_cast<const int8_t*>(boards.data());
  py::array_t<int8_t> winner(rows);
  py::array_t<bool> terminal(rows);
  py::array_t<bool> legal({rows, int64_t{ttt::kNumCells}});
  int8_t* winner_data = winner.mutable_data();
  bool* terminal_data = terminal.mutable_data();
  bool* legal_data = legal.mutable_data();
  {
    py::gil_scoped_release release;
    for (int64_t i = 0; i < rows; ++i) {
      const ttt::Board board = RowBoard(cells, i);
      winner_data[i] = ttt::Winner(board);
      terminal_data[i] = ttt::IsTerminal(board);
      for (size_t c = 0; c < board.size(); ++c) {
        legal_data[i * ttt::kNumCells + static_cast<int64_t>(c)] =
            !terminal_data[i] && board[c] == ttt::kEmpty;
      }
    }
  }
  return py::make_tuple(winner, terminal, legal);
}

py::array_t<int8_t> Values(const py::array& boards, int to_move) {
  CheckPlayer(to_move);
  const int64_t rows = CheckBoards(boards);
  const auto* cells = static_cast<const int8_t*>(boards.data());
  py::array_t<int8_t> values(rows);
  int8_t* values_data = values.mutable_data();
  {
    py::gil_scoped_release release;
    for (int64_t i = 0; i < rows; ++i) {
      values_data[i] = static_cast<int8_t>(
          ttt::GameValue(RowBoard(cells, i), static_cast<int8_t>(to_move)));
    }
  }
  return values;
}

}  // namespace

void RegisterTicTacToe(py::module_& m) {
  py::enum_<ttt::OpponentKind>(m, "TicTacToeOpponentKind", "Who plays the other side.")
      .value("random", ttt::OpponentKind::kRandom, "uniformly random empty cell")
      .value("minimax", ttt::OpponentKind::kMinimax, "perfect play, ties uniformly at random")
      .value("mcts", ttt::OpponentKind::kMcts, "UCT with random rollouts")
      .value("noisy", ttt::OpponentKind::kNoisy,
             "random with probability noise_prob, else noisy_base");
  py::enum_<ttt::Starts>(m, "TicTacToeStarts", "Who moves first in each episode.")
      .value("agent", ttt::Starts::kAgentFirst)
      .value("opponent", ttt::Starts::kOpponentFirst)
      .value("random", ttt::Starts::kRandom, "a fair coin per episode from the row's RNG");
  py::enum_<ttt::IllegalAction>(m, "TicTacToeIllegalAction", "What an occupied-cell action does.")
      .value("random_move", ttt::IllegalAction::kRandomMove,
             "flag it and play a uniformly random legal move instead (the paper's rule)")
      .value("lose", ttt::IllegalAction::kLose, "flag it and end the game with reward -1");

  m.attr("TIC_TAC_TOE_MAX_MCTS_SIMULATIONS") = ttt::kMaxMctsSimulations;
  py::class_<ttt::OpponentConfig>(m, "TicTacToeOpponentConfig", "Settings of a move chooser.")
      .def(py::init<>())
      .def_readwrite("kind", &ttt::OpponentConfig::kind)
      .def_readwrite("mcts_simulations", &ttt::OpponentConfig::mcts_simulations)
      .def_readwrite("mcts_exploration", &ttt::OpponentConfig::mcts_exploration)
      .def_readwrite("noise_prob", &ttt::OpponentConfig::noise_prob)
      .def_readwrite("noisy_base", &ttt::OpponentConfig::noisy_base)
      .def("validate", &ttt::ValidateOpponent, "Raise ValueError naming a bad field.");

  py::class_<ttt::Config>(m, "TicTacToeConfig", "Settings of the tic-tac-toe env.")
      .def(py::init<>())
      .def_readwrite("opponent", &ttt::Config::opponent)
      .def_readwrite("starts", &ttt::Config::starts)
      .def_readwrite("illegal_action", &ttt::Config::illegal_action)
      .def("validate", &ttt::Env::Validate, "Raise ValueError naming a bad field.");

  BindVectorEnv<ttt::Env>(m, "TicTacToeVec",
                          "Batched tic-tac-toe: the agent plays 1 against the configured "
                          "opponent playing 2.");

  py::class_<MoveChooser>(m, "TicTacToeMoveChooser",
                          "Chooses moves for batches of boards with the env's opponents.")
      .def(py::init<const ttt::OpponentConfig&, int>(), py::arg("config"),
           py::arg("num_threads") = 1)
      .def("choose", &MoveChooser::Choose, py::arg("boards"), py::arg("player"), py::arg("seed"),
           py::arg("out") = py::none(),
           "Moves (int32[B]) for `player` (1 or 2) on int8[B, 9] non-terminal boards; row i "
           "draws from the RNG stream (seed, i). Writes into `out` when given.")
      .def_property_readonly("config", &MoveChooser::config);

  m.def("tic_tac_toe_status", &Status, py::arg("boards"),
        "(winner int8[B] (0 none), terminal bool[B], legal_mask bool[B, 9]) of int8[B, 9] boards.");
  m.def("tic_tac_toe_values", &Values, py::arg("boards"), py::arg("to_move"),
        "Game value (int8[B]: +1 forced win, 0 draw, -1 forced loss) for the player to move "
        "under perfect play; the outcome for terminal boards.");
}

}  // namespace rlft::bindings
