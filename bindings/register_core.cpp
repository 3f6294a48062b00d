#include <pybind11/pybind11.h>

#include "registry.h"
#include "rlft/core/check.h"
#include "rlft/core/rng.h"

namespace rlft::bindings {

namespace py = pybind11;

void RegisterCore(py::module_& m) {
  // InvalidArgument derives from std::invalid_argument, which pybind11 maps to ValueError.
  m.def("mix_seed", &MixSeed, py::arg("seed"), py::arg("stream"),
        "The (seed, stream) -> 64-bit seed mixing used for every per-instance RNG.");
}

}  // namespace rlft::bindings
