#include "rlft/envs/multi_armed_bandit.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "rlft/core/check.h"

namespace rlft {

namespace {
void CheckFinite(double value, const char* name) {
  Check(std::isfinite(value), name, " must be finite, got ", value);
}
}  // namespace

ZigguratTables::ZigguratTables() {
  const auto density = [](double v) { return std::exp(-0.5 * v * v); };
  x[0] = kArea / density(kTailStart);
  x[1] = kTailStart;
  for (int i = 1; i < kLayers - 1; ++i) {
    x[i + 1] = std::sqrt(-2.0 * std::log(kArea / x[i] + density(x[i])));
  }
  x[kLayers] = 0.0;
  for (int i = 0; i <= kLayers; ++i) f[i] = density(x[i]);
  for (int i = 0; i < kLayers; ++i) scale[i] = x[i] * 0x1.0p-53;
}

const ZigguratTables kZigguratTables;

double ZigguratNormalSlow(Rng& rng, uint64_t bits) {
  const ZigguratTables& t = kZigguratTables;
  while (true) {
    const auto layer = static_cast<size_t>(bits & 0xFF);
    const bool negative = (bits & 0x100) != 0;
    const double x = static_cast<double>(bits >> 11) * t.scale[layer];
    if (x < t.x[layer + 1]) return negative ? -x : x;  // inside the layer's inner rectangle
    if (layer == 0) {  // tail beyond x[1] (Marsaglia's exponential method)
      double a = 0.0;
      double b = 0.0;
      do {
        a = -std::log(1.0 - rng.Uniform()) / ZigguratTables::kTailStart;
        b = -std::log(1.0 - rng.Uniform());
      } while (b + b < a * a);
      return negative ? -(ZigguratTables::kTailStart + a) : ZigguratTables::kTailStart + a;
    }
    const double y = t.f[layer] + rng.Uniform() * (t.f[layer + 1] - t.f[layer]);
    if (y < std::exp(-0.5 * x * x)) return negative ? -x : x;  // under the curve in the wedge
    bits = rng.NextU64();
  }
}

double GaussianSigmaFor(NoiseLevel level) {
  switch (level) {
    case NoiseLevel::kLow: return 0.1;
    case NoiseLevel::kMedium: return 1.0;
    case NoiseLevel::kHigh: return 3.0;
  }
  ThrowInvalid("unknown noise level ", static_cast<int>(level));
}

double BernoulliGapFor(NoiseLevel level) {
  switch (level) {
    case NoiseLevel::kLow: return 0.5;
    case NoiseLevel::kMedium: return 0.2;
    case NoiseLevel::kHigh: return 0.1;
  }
  ThrowInvalid("unknown noise level ", static_cast<int>(level));
}

void MultiArmedBandit::Validate(const Config& c) {
  Check(c.num_arms >= 2, "num_arms must be >= 2, got ", c.num_arms);
  Check(c.num_arms <= (1 << 20), "num_arms must be <= 2^20, got ", c.num_arms);
  Check(c.horizon >= 1, "horizon must be >= 1, got ", c.horizon);
  Check(c.reward_type == RewardType::kGaussian || c.reward_type == RewardType::kBernoulli,
        "reward_type is not a known RewardType: ", static_cast<int>(c.reward_type));
  Check(c.mean_distribution == MeanDistribution::kUniform ||
            c.mean_distribution == MeanDistribution::kNormal,
        "mean_distribution is not a known MeanDistribution: ",
        static_cast<int>(c.mean_distribution));
  CheckFinite(c.sigma, "sigma");
  Check(c.sigma >= 0.0, "sigma must be >= 0, got ", c.sigma);
  CheckFinite(c.gap, "gap");
  Check(c.gap >= 0.0 && c.gap <= 1.0, "gap must be in [0, 1], got ", c.gap);
  CheckFinite(c.mean_low, "mean_low");
  CheckFinite(c.mean_high, "mean_high");
  Check(c.mean_low <= c.mean_high, "mean_low must be <= mean_high, got mean_low=", c.mean_low,
        " mean_high=", c.mean_high);
  CheckFinite(c.mean_loc, "mean_loc");
  CheckFinite(c.mean_scale, "mean_scale");
  Check(c.mean_scale >= 0.0, "mean_scale must be >= 0, got ", c.mean_scale);
  Check(c.pool_size >= 0, "pool_size must be >= 0, got ", c.pool_size);
  Check(c.pool_offset >= 0, "pool_offset must be >= 0, got ", c.pool_offset);
  Check(c.pool_size <= INT64_MAX - c.pool_offset, "pool_offset + pool_size overflows int64: ",
        c.pool_offset, " + ", c.pool_size);
}

std::vector<BufferSpec> MultiArmedBandit::BufferSpecs(const Config& c, int64_t b) {
  const int64_t k = c.num_arms;
  return {
      {"step", DType::kInt32, {b}, "steps taken this episode"},
      {"counts", DType::kInt32, {b, k}, "pulls of each arm this episode"},
      {"reward_sums", DType::kFloat32, {b, k}, "sum of each arm's rewards this episode"},
      {"last_action", DType::kInt32, {b}, "arm pulled at the last step (-1 before the first)"},
      {"last_reward", DType::kFloat32, {b}, "reward of the last step (0 before the first)"},
      {"arm_means", DType::kFloat32, {b, k}, "true arm means (hidden from agents)"},
      {"optimal_arm", DType::kInt32, {b}, "arm with the highest mean (lowest index on ties)"},
      {"regret", DType::kFloat32, {b}, "cumulative pseudo-regret sum(mu* - mu_a) this episode"},
      {"task_id", DType::kInt64, {b}, "task id of the instance (-1: drawn fresh, not pooled)"},
  };
}

MultiArmedBandit::Outputs::Outputs(const BufferMap& buffers, const Config& config)
    : num_arms(config.num_arms),
      step(buffers.Get<int32_t>("step")),
      counts(buffers.Get<int32_t>("counts")),
      reward_sums(buffers.Get<float>("reward_sums")),
      last_action(buffers.Get<int32_t>("last_action")),
      last_reward(buffers.Get<float>("last_reward")),
      arm_means(buffers.Get<float>("arm_means")),
      optimal_arm(buffers.Get<int32_t>("optimal_arm")),
      regret(buffers.Get<float>("regret")),
      task_id(buffers.Get<int64_t>("task_id")) {}

MultiArmedBandit::MultiArmedBandit(const Config& config)
    : arms_(static_cast<size_t>(config.num_arms), Arm{0.0, 0.0, 0}),
      sigma_(config.sigma),
      horizon_(config.horizon),
      gaussian_(config.reward_type == RewardType::kGaussian),
      config_(config) {}

namespace {
// Calls set(arm, mean) for every arm, in arm order; the one place that fixes the draw order.
template <class Set>
void DrawMeansInto(const MultiArmedBanditConfig& c, Rng& rng, Set set) {
  const auto k = static_cast<uint64_t>(c.num_arms);
  if (c.reward_type == RewardType::kBernoulli) {
    const uint64_t best = rng.UniformInt(k);
    for (uint64_t a = 0; a < k; ++a) set(a, 0.5 + (a == best ? 0.5 : -0.5) * c.gap);
    return;
  }
  for (uint64_t a = 0; a < k; ++a) {
    set(a, c.mean_distribution == MeanDistribution::kUniform
               ? rng.Uniform(c.mean_low, c.mean_high)
               : rng.Normal(c.mean_loc, c.mean_scale));
  }
}
}  // namespace

void MultiArmedBandit::DrawMeans(const Config& c, Rng& rng, std::vector<double>* means) {
  means->resize(static_cast<size_t>(c.num_arms));
  DrawMeansInto(c, rng, [&](uint64_t a, double mean) { (*means)[a] = mean; });
}

void MultiArmedBandit::Reset(Rng& rng, int64_t task_id) {
  if (task_id < 0 && config_.pool_size > 0) {
    task_id = config_.pool_offset +
              static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(config_.pool_size)));
  }
  const auto set = [this](uint64_t a, double mean) { arms_[a] = Arm{mean, 0.0, 0}; };
  if (task_id >= 0) {
    Rng task_rng(config_.task_seed, static_cast<uint64_t>(task_id));
    DrawMeansInto(config_, task_rng, set);
  } else {
    DrawMeansInto(config_, rng, set);
  }
  task_id_ = task_id < 0 ? -1 : task_id;
  optimal_arm_ = 0;  // first maximum
  for (size_t a = 1; a < arms_.size(); ++a) {
    if (arms_[a].mean > arms_[static_cast<size_t>(optimal_arm_)].mean) {
      optimal_arm_ = static_cast<int32_t>(a);
    }
  }
  best_mean_ = arms_[static_cast<size_t>(optimal_arm_)].mean;
  step_ = 0;
  last_action_ = -1;
  last_reward_ = 0.0;
  regret_ = 0.0;
}

}  // namespace rlft
