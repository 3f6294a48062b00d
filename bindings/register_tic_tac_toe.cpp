// Placeholder until the tic-tac-toe env lands.
#include "registry.h"

namespace rlft::bindings {
void RegisterTicTacToe(pybind11::module_&) {}
}  // namespace rlft::bindings
