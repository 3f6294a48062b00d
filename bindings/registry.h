// One register function per submodule area; module.cpp calls them all.
#pragma once

#include <pybind11/pybind11.h>

namespace rlft::bindings {

void RegisterCore(pybind11::module_& m);
void RegisterBandits(pybind11::module_& m);      // register_bandits.cpp
void RegisterTicTacToe(pybind11::module_& m);    // register_tic_tac_toe.cpp
void RegisterText(pybind11::module_& m);         // register_text.cpp

}  // namespace rlft::bindings
