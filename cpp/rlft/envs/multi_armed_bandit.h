// Multi-armed bandit: K arms, Gaussian N(mu_a, sigma) or Bernoulli(mu_a) rewards, fixed
// horizon. One instance keeps per-arm counts and reward sums, the optimal arm and the
// cumulative pseudo-regret sum_t (mu* - mu_{a_t}).
//
// Instances and task ids: the arm means of task id j >= 0 are drawn from Rng(task_seed, j),
// so a task id names the same instance in every process. With pool_size > 0 a reset row
// plays a task drawn uniformly from [pool_offset, pool_offset + pool_size) with its own RNG
// (the paper's pool of 512 training bandits; a disjoint id range is the held-out set); with
// pool_size == 0 the means are drawn fresh from the row's own RNG (task id -1).
#pragma once

#include <cstdint>
#include <vector>

#include "rlft/core/buffers.h"
#include "rlft/core/rng.h"
#include "rlft/core/vector_env.h"

namespace rlft {

enum class RewardType : uint8_t { kGaussian, kBernoulli };
enum class MeanDistribution : uint8_t { kUniform, kNormal };
enum class NoiseLevel : uint8_t { kLow, kMedium, kHigh };

// Gaussian reward stddev per noise level: 0.1 / 1 / 3 (the paper's appendix A.1).
double GaussianSigmaFor(NoiseLevel level);
// Bernoulli best-vs-rest gap per noise level: 0.5 / 0.2 / 0.1. rlft's choice: the paper only
// says the level sets the gap; 0.2 is Krishnamurthy et al.'s hard instance, 0.5 their easy one.
double BernoulliGapFor(NoiseLevel level);

// Standard normal by a 256-layer ziggurat on the Rng's 64-bit output: the per-step reward
// draw, several times cheaper than Rng::Normal's Box-Muller (one u64 and a table lookup
// in about 99% of calls). The tests' Python twin replays it exactly.
double ZigguratNormal(Rng& rng);

struct MultiArmedBanditConfig {
  int32_t num_arms = 5;          // K >= 2
  int32_t horizon = 50;          // steps per episode; terminated at the horizon
  RewardType reward_type = RewardType::kGaussian;
  double sigma = 1.0;            // Gaussian reward stddev
  double gap = 0.2;              // Bernoulli: best arm 0.5 + gap/2, the others 0.5 - gap/2
  MeanDistribution mean_distribution = MeanDistribution::kUniform;  // Gaussian arm means
  double mean_low = 0.0;         // uniform(mean_low, mean_high)
  double mean_high = 1.0;
  double mean_loc = 0.5;         // normal(mean_loc, mean_scale)
  double mean_scale = 0.25;
  uint64_t task_seed = 0;        // task id j draws its means from Rng(task_seed, j)
  int64_t pool_size = 0;         // 0: fresh means at every reset; > 0: pooled task ids
  int64_t pool_offset = 0;       // first task id of the pool
};

class MultiArmedBandit {
 public:
  using Config = MultiArmedBanditConfig;

  struct Outputs {
    Outputs(const BufferMap& buffers, const Config& config);
    int32_t num_arms;
    int32_t* step;
    int32_t* counts;
    float* reward_sums;
    int32_t* last_action;
    float* last_reward;
    float* arm_means;
    int32_t* optimal_arm;
    float* regret;
    int64_t* task_id;
  };

  static void Validate(const Config& config);
  static int32_t NumActions(const Config& config) { return config.num_arms; }
  static std::vector<BufferSpec> BufferSpecs(const Config& config, int64_t num_envs);

  explicit MultiArmedBandit(const Config& config);
  void Reset(Rng& rng, int64_t task_id);
  StepResult Step(int32_t action, Rng& rng);
  void Write(int64_t row, const Outputs& out) const;

  // Draws the arm means of one instance from `rng` (fresh instance or Rng(task_seed, id)).
  static void DrawMeans(const Config& config, Rng& rng, std::vector<double>* means);

  const std::vector<double>& means() const { return means_; }
  const std::vector<int32_t>& counts() const { return counts_; }
  const std::vector<double>& reward_sums() const { return reward_sums_; }
  int32_t optimal_arm() const { return optimal_arm_; }
  int32_t step() const { return step_; }
  double regret() const { return regret_; }
  int64_t task_id() const { return task_id_; }

 private:
  Config config_;
  std::vector<double> means_;
  std::vector<int32_t> counts_;
  std::vector<double> reward_sums_;
  int32_t optimal_arm_ = 0;
  double best_mean_ = 0.0;
  int32_t step_ = 0;
  int32_t last_action_ = -1;
  double last_reward_ = 0.0;
  double regret_ = 0.0;
  int64_t task_id_ = -1;
  bool fresh_episode_ = true;  // Write copies every arm after a reset, one arm after a step
};

}  // namespace rlft
