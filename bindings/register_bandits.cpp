// rlft._core bindings of the multi-armed and contextual bandits: their config structs
// (readwrite fields, enums) and the batched vector envs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "registry.h"
#include "rlft/envs/contextual_bandit.h"
#include "rlft/envs/multi_armed_bandit.h"
#include "vector_env_binding.h"

namespace rlft::bindings {

namespace {

void RegisterMultiArmedBandit(py::module_& m) {
  py::enum_<RewardType>(m, "RewardType", "Reward distribution of the arms.")
      .value("GAUSSIAN", RewardType::kGaussian)
      .value("BERNOULLI", RewardType::kBernoulli);
  py::enum_<MeanDistribution>(m, "MeanDistribution", "How Gaussian arm means are drawn.")
      .value("UNIFORM", MeanDistribution::kUniform)
      .value("NORMAL", MeanDistribution::kNormal);
  py::enum_<NoiseLevel>(m, "NoiseLevel", "Stochasticity level of a bandit.")
      .value("LOW", NoiseLevel::kLow)
      .value("MEDIUM", NoiseLevel::kMedium)
      .value("HIGH", NoiseLevel::kHigh);
  m.def("gaussian_sigma_for", &GaussianSigmaFor, py::arg("level"),
        "Gaussian reward stddev of a noise level: 0.1 / 1 / 3.");
  m.def("bernoulli_gap_for", &BernoulliGapFor, py::arg("level"),
        "Bernoulli best-vs-rest gap of a noise level: 0.5 / 0.2 / 0.1 (rlft's choice).");

  using Config = MultiArmedBanditConfig;
  py::class_<Config>(m, "MultiArmedBanditConfig", "Settings of the multi-armed bandit.")
      .def(py::init<>())
      .def_readwrite("num_arms", &Config::num_arms)
      .def_readwrite("horizon", &Config::horizon)
      .def_readwrite("reward_type", &Config::reward_type)
      .def_readwrite("sigma", &Config::sigma)
      .def_readwrite("gap", &Config::gap)
      .def_readwrite("mean_distribution", &Config::mean_distribution)
      .def_readwrite("mean_low", &Config::mean_low)
      .def_readwrite("mean_high", &Config::mean_high)
      .def_readwrite("mean_loc", &Config::mean_loc)
      .def_readwrite("mean_scale", &Config::mean_scale)
      .def_readwrite("task_seed", &Config::task_seed)
      .def_readwrite("pool_size", &Config::pool_size)
      .def_readwrite("pool_offset", &Config::pool_offset)
      .def("validate", &MultiArmedBandit::Validate,
           "Raises ValueError naming the first invalid field.");

  BindVectorEnv<MultiArmedBandit>(m, "MultiArmedBanditVec",
                                  "Batched multi-armed bandits (see rlft.envs.bandits).");
}

void RegisterContextualBandit(py::module_& m) {
  using Config = ContextualBanditConfig;
  py::class_<Config>(m, "ContextualBanditConfig", "Settings of the contextual bandit.")
      .def(py::init<>())
      .def_readwrite("horizon", &Config::horizon)
      .def_readwrite("noise_std", &Config::noise_std)
      .def(
          "set_data",
          [](Config& config, const py::array& rewards, const py::array& contexts,
             const py::array& users) {
            Check(rewards.ndim() == 2, "rewards must be 2-D [users, movies], got ",
                  rewards.ndim(), "-D");
            Check(contexts.ndim() == 2, "contexts must be 2-D [users, dim], got ",
                  contexts.ndim(), "-D");
            Check(users.ndim() == 1, "users must be 1-D, got ", users.ndim(), "-D");
            const int64_t num_users = rewards.shape(0);
            const int64_t num_actions = rewards.shape(1);
            const int64_t dim = contexts.shape(1);
            CheckArray(rewards, DType::kFloat32, {num_users, num_actions}, "rewards", false);
            CheckArray(contexts, DType::kFloat32, {num_users, dim}, "contexts", false);
            CheckArray(users, DType::kInt64, {users.shape(0)}, "users", false);
            config.data = ContextualBanditData::Create(
                static_cast<const float*>(rewards.data()), num_users, num_actions,
                static_cast<const float*>(contexts.data()), dim,
                static_cast<const int64_t*>(users.data()), users.shape(0));
          },
          py::arg("rewards"), py::arg("contexts"), py::arg("users"),
          "Copies the float32 reward table [U, K], contexts [U, d] and the split's int64 user "
          "rows once; all envs built from this config share the copy.")
      .def_property_readonly("has_data", [](const Config& c) { return c.data != nullptr; })
      .def_property_readonly("num_actions",
                             [](const Config& c) { return ContextualBandit::NumActions(c); })
      .def("validate", &ContextualBandit::Validate,
           "Raises ValueError naming the first invalid field.");

  BindVectorEnv<ContextualBandit>(m, "ContextualBanditVec",
                                  "Batched MovieLens-style contextual bandits "
                                  "(see rlft.envs.contextual_bandit).");
}

}  // namespace

void RegisterBandits(py::module_& m) {
  RegisterMultiArmedBandit(m);
  RegisterContextualBandit(m);
}

}  // namespace rlft::bindings
