// Generic pybind11 binding of VectorEnv<Env>. numpy arrays are created by Python and
// checked here once (dtype, shape, C-contiguity, writeability); the binding keeps them
// alive for as long as C++ holds their pointers. Batched calls release the GIL.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "rlft/core/buffers.h"
#include "rlft/core/vector_env.h"

namespace rlft::bindings {

namespace py = pybind11;

py::dtype NumpyDType(DType dtype);

// Checks one numpy array against what the core expects; raises ValueError naming `what`.
void CheckArray(const py::array& array, DType dtype, const std::vector<int64_t>& shape,
                const std::string& what, bool writeable);

// Checks a dict of numpy buffers against specs and returns their pointers. The arrays are
// appended to `keep_alive`.
BufferMap BindBuffers(const py::dict& buffers, const std::vector<BufferSpec>& specs,
                      std::vector<py::array>* keep_alive);

py::list SpecsToPython(const std::vector<BufferSpec>& specs);

template <class Env>
class PyVectorEnv {
 public:
  using Config = typename Env::Config;

  PyVectorEnv(const Config& config, int64_t num_envs, uint64_t seed, int num_threads,
              const py::dict& buffers)
      : env_(config, num_envs, seed, num_threads) {
    env_.Bind(BindBuffers(buffers, VectorEnv<Env>::BufferSpecs(config, num_envs), &keep_alive_));
  }

  void Reset(std::optional<uint64_t> seed, const std::optional<py::array>& mask,
             const std::optional<py::array>& task_ids) {
    const std::vector<int64_t> batch{env_.num_envs()};
    const bool* mask_data = nullptr;
    const int64_t* task_data = nullptr;
    if (mask.has_value()) {
      CheckArray(*mask, DType::kBool, batch, "reset mask", false);
      mask_data = static_cast<const bool*>(mask->data());
    }
    if (task_ids.has_value()) {
      CheckArray(*task_ids, DType::kInt64, batch, "task_ids", false);
      task_data = static_cast<const int64_t*>(task_ids->data());
    }
    py::gil_scoped_release release;
    env_.Reset(seed, mask_data, task_data);
  }

  void Step(const py::array& actions) {
    CheckArray(actions, DType::kInt32, {env_.num_envs()}, "actions", false);
    const auto* data = static_cast<const int32_t*>(actions.data());
    py::gil_scoped_release release;
    env_.Step(data);
  }

  const VectorEnv<Env>& env() const { return env_; }

 private:
  VectorEnv<Env> env_;
  std::vector<py::array> keep_alive_;
};

// Registers `name` in module m with: __init__(config, num_envs, seed, num_threads, buffers),
// reset(seed=None, mask=None, task_ids=None), step(actions), num_envs, num_actions and the
// static buffer_specs(config, num_envs). Returns the class so an env can add more.
template <class Env>
py::class_<PyVectorEnv<Env>> BindVectorEnv(py::module_& m, const char* name, const char* doc) {
  using Vec = PyVectorEnv<Env>;
  using Config = typename Env::Config;
  py::class_<Vec> cls(m, name, doc);
  cls.def(py::init<const Config&, int64_t, uint64_t, int, const py::dict&>(), py::arg("config"),
          py::arg("num_envs"), py::arg("seed"), py::arg("num_threads"), py::arg("buffers"))
      .def("reset", &Vec::Reset, py::arg("seed") = py::none(), py::arg("mask") = py::none(),
           py::arg("task_ids") = py::none(),
           "Start new episodes (all rows, or rows where mask is set) and write their first "
           "observations into the buffers.")
      .def("step", &Vec::Step, py::arg("actions"),
           "Step every row with int32 actions[B]; writes results into the buffers.")
      .def_property_readonly("num_envs", [](const Vec& v) { return v.env().num_envs(); })
      .def_property_readonly("num_actions",
                             [](const Vec& v) { return Env::NumActions(v.env().config()); })
      .def_static(
          "buffer_specs",
          [](const Config& config, int64_t num_envs) {
            Check(num_envs >= 1, "num_envs must be >= 1, got ", num_envs);
            return SpecsToPython(VectorEnv<Env>::BufferSpecs(config, num_envs));
          },
          py::arg("config"), py::arg("num_envs"),
          "List of (name, dtype, shape, doc) for every buffer the env writes.");
  return cls;
}

}  // namespace rlft::bindings
