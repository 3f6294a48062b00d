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
// in about 99% of calls). The tests' Python twin replays it exactly. Bits of the u64:
// 0-7 layer, 8 sign, 11-63 the uniform position within the layer.
struct ZigguratTables {
  static constexpr int kLayers = 256;
  static constexpr double kTailStart = 3.6541528853610088;  // x[1]
  static constexpr double kArea = 0.00492867323399;          // area of every layer
  ZigguratTables();
  double x[kLayers + 1];   // layer i spans [0, x[i]]; x[0] = kArea / f(x[1]), x[256] = 0
  double f[kLayers + 1];   // f(x[i]) with f(v) = exp(-v^2 / 2)
  double scale[kLayers];   // x[i] / 2^53: maps 53 random bits onto [0, x[i])
};
extern const ZigguratTables kZigguratTables;

// The rare branches (tail beyond x[1], wedge tests): about 1% of draws.
double ZigguratNormalSlow(Rng& rng, uint64_t bits);

inline double ZigguratNormal(Rng& rng) {
  const uint64_t bits = rng.NextU64();
  const auto layer = static_cast<size_t>(bits & 0xFF);
  const double x = static_cast<double>(bits >> 11) * kZigguratTables.scale[layer];
  // The sign bit enters arithmetically: a branch on it would mispredict half the time.
  const double sign = 1.0 - static_cast<double>((bits >> 7) & 2);
  if (x < kZigguratTables.x[layer + 1]) return sign * x;
  return ZigguratNormalSlow(rng, bits);
}

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
  inline StepResult Step(int32_t action, Rng& rng);
  inline void Write(int64_t row, const Outputs& out) const;

  // Draws the arm means of one instance from `rng` (fresh instance or Rng(task_seed, id)).
  static void DrawMeans(const Config& config, Rng& rng, std::vector<double>* means);

  double mean(int32_t arm) const { return arms_[static_cast<size_t>(arm)].mean; }
  int32_t count(int32_t arm) const { return arms_[static_cast<size_t>(arm)].count; }
  double reward_sum(int32_t arm) const { return arms_[static_cast<size_t>(arm)].reward_sum; }
  int32_t optimal_arm() const { return optimal_arm_; }
  int32_t step() const { return step_; }
  double regret() const { return regret_; }
  int64_t task_id() const { return task_id_; }

 private:
  // One block per instance, and the fields a step touches first: a step reads one cache
  // line of the instance and one of its arms.
  struct Arm {
    double mean;
    double reward_sum;
    int32_t count;
  };
  std::vector<Arm> arms_;
  double sigma_;
  double best_mean_ = 0.0;
  double regret_ = 0.0;
  double last_reward_ = 0.0;
  int32_t horizon_;
  int32_t step_ = 0;
  int32_t last_action_ = -1;
  int32_t optimal_arm_ = 0;
  bool gaussian_;
  int64_t task_id_ = -1;
  Config config_;              // read at reset only
};

// Inline: VectorEnv's batch loop calls these once per row.
StepResult MultiArmedBandit::Step(int32_t action, Rng& rng) {
  Arm& arm = arms_[static_cast<size_t>(action)];
  const double reward = gaussian_ ? arm.mean + sigma_ * ZigguratNormal(rng)
                                  : static_cast<double>(rng.Uniform() < arm.mean);
  ++arm.count;
  arm.reward_sum += reward;
  regret_ += best_mean_ - arm.mean;
  ++step_;
  last_action_ = action;
  last_reward_ = reward;
  return {reward, step_ >= horizon_, false};
}

void MultiArmedBandit::Write(int64_t row, const Outputs& out) const {
  // Values and pointers are read before any store: an int32 store could otherwise alias
  // them (as far as the compiler knows) and force reloads.
  const int32_t action = last_action_;
  const int64_t base = row * out.num_arms;
  int32_t* const counts = out.counts + base;
  float* const reward_sums = out.reward_sums + base;
  const float last_reward = static_cast<float>(last_reward_);
  const float regret = static_cast<float>(regret_);
  const int32_t step = step_;
  if (step > 0) {  // a step changes one arm's entries; after a reset (step 0) all are new
    const Arm& arm = arms_[static_cast<size_t>(action)];
    const int32_t count = arm.count;
    const float sum = static_cast<float>(arm.reward_sum);
    out.step[row] = step;
    out.last_action[row] = action;
    out.last_reward[row] = last_reward;
    out.regret[row] = regret;
    counts[action] = count;
    reward_sums[action] = sum;
    return;
  }
  out.step[row] = step;
  out.last_action[row] = action;
  out.last_reward[row] = last_reward;
  out.regret[row] = regret;
  out.optimal_arm[row] = optimal_arm_;
  out.task_id[row] = task_id_;
  float* const arm_means = out.arm_means + base;
  for (size_t a = 0; a < arms_.size(); ++a) {
    counts[a] = arms_[a].count;
    reward_sums[a] = static_cast<float>(arms_[a].reward_sum);
    arm_means[a] = static_cast<float>(arms_[a].mean);
  }
}

}  // namespace rlft
