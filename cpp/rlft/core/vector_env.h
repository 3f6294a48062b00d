// VectorEnv<Env>: B independent instances of one env stepped together. Batching,
// threading, seeding, action checks and the autoreset rule live here, once; an env only
// describes a single instance.
//
// An Env type provides:
//   using Config = ...;                      plain struct of settings
//   static void Validate(const Config&);     throws InvalidArgument naming the bad field
//   static int32_t NumActions(const Config&);
//   static std::vector<BufferSpec> BufferSpecs(const Config&, int64_t num_envs);
//   struct Outputs { Outputs(const BufferMap&, const Config&); ... typed row pointers ... };
//   explicit Env(const Config&);
//   void Reset(Rng&, int64_t task_id);       task_id < 0: the env picks its own instance
//   StepResult Step(int32_t action, Rng&);   action already checked in [0, NumActions)
//   void Write(int64_t row, const Outputs&) const;   observation and info of this row
// Reset/Step/Write must not throw: they run on worker threads.
//
// Autoreset rule (Gymnasium's "next-step" mode): when a row returns terminated or
// truncated, the following Step ignores that row's action, starts a new episode there and
// reports reward 0, terminated = truncated = false and the new episode's first observation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "rlft/core/buffers.h"
#include "rlft/core/check.h"
#include "rlft/core/rng.h"
#include "rlft/core/thread_pool.h"

namespace rlft {

struct StepResult {
  double reward = 0.0;
  bool terminated = false;
  bool truncated = false;
};

// Buffers every vector env has, whatever the env.
inline std::vector<BufferSpec> CommonBufferSpecs(int64_t num_envs) {
  return {
      {"reward", DType::kFloat32, {num_envs}, "reward of the last step"},
      {"terminated", DType::kBool, {num_envs}, "episode ended by the task (win, loss, horizon)"},
      {"truncated", DType::kBool, {num_envs}, "episode cut short from outside the task"},
  };
}

template <class Env>
class VectorEnv {
 public:
  using Config = typename Env::Config;

  VectorEnv(const Config& config, int64_t num_envs, uint64_t seed, int num_threads)
      : config_(config), pool_(num_threads) {
    Env::Validate(config_);
    Check(num_envs >= 1, "num_envs must be >= 1, got ", num_envs);
    Check(num_envs <= (int64_t{1} << 26), "num_envs is too large: ", num_envs);
    envs_.assign(static_cast<size_t>(num_envs), Env(config_));
    rngs_.resize(static_cast<size_t>(num_envs));
    needs_reset_.assign(static_cast<size_t>(num_envs), 1);
    Seed(seed, nullptr);
  }

  static std::vector<BufferSpec> BufferSpecs(const Config& config, int64_t num_envs) {
    Env::Validate(config);
    auto specs = CommonBufferSpecs(num_envs);
    for (auto& spec : Env::BufferSpecs(config, num_envs)) specs.push_back(std::move(spec));
    return specs;
  }

  // Binds the caller's buffers (already checked against BufferSpecs).
  void Bind(const BufferMap& buffers) {
    reward_ = buffers.Get<float>("reward");
    terminated_ = buffers.Get<bool>("terminated");
    truncated_ = buffers.Get<bool>("truncated");
    outputs_ = std::make_unique<typename Env::Outputs>(buffers, config_);
  }

  // Starts new episodes. seed: reseed the reset rows' streams from (seed, row).
  // mask (nullable, B entries): reset only rows whose mask is set.
  // task_ids (nullable, B entries): the instance each reset row plays (pool mode).
  void Reset(std::optional<uint64_t> seed, const bool* mask, const int64_t* task_ids) {
    RequireBound();
    if (seed.has_value()) Seed(*seed, mask);
    pool_.ParallelFor(num_envs(), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if (mask != nullptr && !mask[i]) continue;
        ResetRow(i, task_ids == nullptr ? -1 : task_ids[i]);
      }
    });
  }

  // Steps every row with actions[i]; rows waiting for autoreset ignore their action.
  void Step(const int32_t* actions) {
    RequireBound();
    const int32_t num_actions = Env::NumActions(config_);
    for (int64_t i = 0; i < num_envs(); ++i) {  // check all before changing any state
      if (needs_reset_[static_cast<size_t>(i)]) continue;
      Check(actions[i] >= 0 && actions[i] < num_actions, "action ", actions[i], " at row ", i,
            " is out of range [0, ", num_actions, ")");
    }
    pool_.ParallelFor(num_envs(), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const auto row = static_cast<size_t>(i);
        if (needs_reset_[row]) {
          ResetRow(i, -1);
          continue;
        }
        const StepResult result = envs_[row].Step(actions[i], rngs_[row]);
        reward_[i] = static_cast<float>(result.reward);
        terminated_[i] = result.terminated;
        truncated_[i] = result.truncated;
        needs_reset_[row] = result.terminated || result.truncated;
        envs_[row].Write(i, *outputs_);
      }
    });
  }

  int64_t num_envs() const { return static_cast<int64_t>(envs_.size()); }
  const Config& config() const { return config_; }
  const Env& env(int64_t i) const { return envs_.at(static_cast<size_t>(i)); }
  const Rng& rng(int64_t i) const { return rngs_.at(static_cast<size_t>(i)); }
  bool needs_reset(int64_t i) const { return needs_reset_.at(static_cast<size_t>(i)) != 0; }

 private:
  void Seed(uint64_t seed, const bool* mask) {
    for (int64_t i = 0; i < num_envs(); ++i) {
      if (mask == nullptr || mask[i]) rngs_[static_cast<size_t>(i)].Seed(seed, static_cast<uint64_t>(i));
    }
  }

  void ResetRow(int64_t i, int64_t task_id) {
    const auto row = static_cast<size_t>(i);
    envs_[row].Reset(rngs_[row], task_id);
    needs_reset_[row] = 0;
    reward_[i] = 0.0f;
    terminated_[i] = false;
    truncated_[i] = false;
    envs_[row].Write(i, *outputs_);
  }

  void RequireBound() const { Check(outputs_ != nullptr, "buffers are not bound"); }

  Config config_;
  ThreadPool pool_;
  std::vector<Env> envs_;
  std::vector<Rng> rngs_;
  std::vector<uint8_t> needs_reset_;  // uint8_t, not bool: rows are written from several threads
  float* reward_ = nullptr;
  bool* terminated_ = nullptr;
  bool* truncated_ = nullptr;
  std::unique_ptr<typename Env::Outputs> outputs_;
};

}  // namespace rlft
