// rlft._core: the one extension module. Each area registers itself from its own file.
#include <pybind11/pybind11.h>

#include "registry.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "rlft C++ core: batched decision-making environments and the action parser.";
  rlft::bindings::RegisterCore(m);
  rlft::bindings::RegisterBandits(m);
  rlft::bindings::RegisterTicTacToe(m);
  rlft::bindings::RegisterText(m);
}
