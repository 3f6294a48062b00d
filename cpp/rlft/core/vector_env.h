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
    rows_.assign(static_cast<size_t>(num_envs), Row{Env(config_), Rng(), true});
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
      if (rows_[static_cast<size_t>(i)].needs_reset) continue;
      Check(actions[i] >= 0 && actions[i] < num_actions, "action ", actions[i], " at row ", i,
            " is out of range [0, ", num_actions, ")");
    }
    pool_.ParallelFor(num_envs(), [&](int64_t begin, int64_t end) {
      float* const reward = reward_;
      bool* const terminated = terminated_;
      bool* const truncated = truncated_;
      const auto& outputs = *outputs_;
      for (int64_t i = begin; i < end; ++i) {
        Row& row = rows_[static_cast<size_t>(i)];
        if (row.needs_reset) {
          ResetRow(i, -1);
          continue;
        }
        const StepResult result = row.env.Step(actions[i], row.rng);
        row.needs_reset = result.terminated || result.truncated;
        row.env.Write(i, outputs);
        reward[i] = static_cast<float>(result.reward);
        terminated[i] = result.terminated;
        truncated[i] = result.truncated;
      }
    });
  }

  int64_t num_envs() const { return static_cast<int64_t>(rows_.size()); }
  const Config& config() const { return config_; }
  const Env& env(int64_t i) const { return rows_.at(static_cast<size_t>(i)).env; }
  const Rng& rng(int64_t i) const { return rows_.at(static_cast<size_t>(i)).rng; }
  bool needs_reset(int64_t i) const { return rows_.at(static_cast<size_t>(i)).needs_reset; }

 private:
  void Seed(uint64_t seed, const bool* mask) {
    for (int64_t i = 0; i < num_envs(); ++i) {
      if (mask == nullptr || mask[i]) rows_[static_cast<size_t>(i)].rng.Seed(seed, static_cast<uint64_t>(i));
    }
  }

  void ResetRow(int64_t i, int64_t task_id) {
    Row& row = rows_[static_cast<size_t>(i)];
    row.env.Reset(row.rng, task_id);
    row.needs_reset = false;
    reward_[i] = 0.0f;
    terminated_[i] = false;
    truncated_[i] = false;
    row.env.Write(i, *outputs_);
  }

  void RequireBound() const { Check(outputs_ != nullptr, "buffers are not bound"); }

  Config config_;
  ThreadPool pool_;
  // An instance, its RNG stream and its autoreset flag side by side: a step touches one
  // place in memory per row. (A struct member, not vector<bool>: rows are written from
  // several threads.)
  struct Row {
    Env env;
    Rng rng;
    bool needs_reset;
  };
  std::vector<Row> rows_;
  float* reward_ = nullptr;
  bool* terminated_ = nullptr;
  bool* truncated_ = nullptr;
  std::unique_ptr<typename Env::Outputs> outputs_;
};

}  // namespace rlft
