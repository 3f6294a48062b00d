#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "registry.h"
#include "rlft/core/check.h"
#include "rlft/core/rng.h"

namespace rlft::bindings {

namespace py = pybind11;

void RegisterCore(py::module_& m) {
  // InvalidArgument derives from std::invalid_argument, which pybind11 maps to ValueError.
  m.def("mix_seed", &MixSeed, py::arg("seed"), py::arg("stream"),
        "The (seed, stream) -> 64-bit seed mixing used for every per-instance RNG.");

  // The core's RNG, so that the tests' pure-Python twins can replay an env's exact draws.
  py::class_<Rng>(m, "Rng", "xoshiro256** stream seeded from (seed, stream); same as the envs'.")
      .def(py::init<uint64_t, uint64_t>(), py::arg("seed"), py::arg("stream"))
      .def("next_u64", &Rng::NextU64)
      .def("uniform", py::overload_cast<>(&Rng::Uniform), "Uniform double in [0, 1).")
      .def("uniform_range", py::overload_cast<double, double>(&Rng::Uniform), py::arg("low"),
           py::arg("high"))
      .def(
          "uniform_int",
          [](Rng& rng, uint64_t n) {
            Check(n > 0, "uniform_int needs n > 0, got ", n);
            return rng.UniformInt(n);
          },
          py::arg("n"), "Unbiased integer in [0, n).")
      .def("normal", py::overload_cast<>(&Rng::Normal), "Standard normal (Box-Muller).")
      .def("normal_scaled", py::overload_cast<double, double>(&Rng::Normal), py::arg("mean"),
           py::arg("stddev"))
      .def("bernoulli", &Rng::Bernoulli, py::arg("p"))
      .def_property("state", &Rng::state, &Rng::set_state);
}

}  // namespace rlft::bindings
