// Contextual bandit over a fixed reward table, MovieLens style (BanditBench/EVOLvE): each
// step serves a user drawn uniformly from the split's users; the agent picks one of K
// movies and gets R[user, movie], the user's entry of a rank-k approximation of the rating
// matrix (plus optional Gaussian noise). Regret adds max_a R[user, a] - R[user, action].
// The table is built once in Python (SVD) and shared, read-only, by every instance.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rlft/core/buffers.h"
#include "rlft/core/rng.h"
#include "rlft/core/vector_env.h"

namespace rlft {

// Read-only tables shared by all instances; Create checks them and derives the per-user
// best action, so nothing is validated again per step.
struct ContextualBanditData {
  int64_t num_users = 0;
  int32_t num_actions = 0;           // K movies
  int32_t context_dim = 0;           // d latent dims
  std::vector<float> rewards;        // [num_users, K], row-major
  std::vector<float> contexts;       // [num_users, d], row-major
  std::vector<int32_t> users;        // rows of the split this env serves
  std::vector<int32_t> best_action;  // [num_users], lowest index on ties
  std::vector<float> best_reward;    // [num_users]

  static std::shared_ptr<const ContextualBanditData> Create(
      const float* rewards, int64_t num_users, int64_t num_actions, const float* contexts,
      int64_t context_dim, const int64_t* users, int64_t num_split_users);
};

struct ContextualBanditConfig {
  std::shared_ptr<const ContextualBanditData> data;  // required
  int32_t horizon = 50;     // steps per episode; terminated at the horizon
  double noise_std = 0.0;   // stddev of Gaussian noise added to the served reward
};

class ContextualBandit {
 public:
  using Config = ContextualBanditConfig;

  struct Outputs {
    Outputs(const BufferMap& buffers, const Config& config);
    int32_t num_actions;
    int32_t context_dim;
    int32_t* step;
    int32_t* user;
    float* context;
    int32_t* optimal_action;
    float* regret;
    float* last_reward;
    float* expected_rewards;
  };

  static void Validate(const Config& config);
  static int32_t NumActions(const Config& config);
  static std::vector<BufferSpec> BufferSpecs(const Config& config, int64_t num_envs);

  explicit ContextualBandit(const Config& config);
  void Reset(Rng& rng, int64_t task_id);  // task_id is ignored: users are drawn per step
  StepResult Step(int32_t action, Rng& rng);
  void Write(int64_t row, const Outputs& out) const;

  int32_t user() const { return user_; }
  int32_t step() const { return step_; }
  double regret() const { return regret_; }

 private:
  void DrawUser(Rng& rng);

  const ContextualBanditData* data_;  // owned by config_.data
  Config config_;
  int32_t user_ = 0;
  int32_t step_ = 0;
  double regret_ = 0.0;
  double last_reward_ = 0.0;
};

}  // namespace rlft
