// Multi-armed bandit: determinism, reward statistics, bookkeeping, pool mode, bad configs.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "rlft/core/buffers.h"
#include "rlft/core/vector_env.h"
#include "rlft/envs/multi_armed_bandit.h"

namespace rlft {
namespace {

using MabVec = VectorEnv<MultiArmedBandit>;

struct Harness {
  Harness(const MultiArmedBanditConfig& config, int64_t batch, uint64_t seed, int threads = 1)
      : vec(config, batch, seed, threads), buffers(MabVec::BufferSpecs(config, batch)) {
    vec.Bind(buffers.map());
    vec.Reset(std::nullopt, nullptr, nullptr);
  }
  MabVec vec;
  OwnedBuffers buffers;
};

std::vector<float> RunRewards(const MultiArmedBanditConfig& config, int64_t batch, int threads,
                              int steps, int64_t rows) {
  Harness h(config, batch, 11, threads);
  std::vector<int32_t> actions(static_cast<size_t>(batch));
  std::vector<float> out;
  for (int t = 0; t < steps; ++t) {
    for (int64_t i = 0; i < batch; ++i) {
      actions[static_cast<size_t>(i)] = static_cast<int32_t>((i + t) % config.num_arms);
    }
    h.vec.Step(actions.data());
    for (int64_t i = 0; i < rows; ++i) out.push_back(h.buffers.Get<float>("reward")[i]);
  }
  return out;
}

TEST(Ziggurat, MomentsAndTailsMatchStandardNormal) {
  Rng rng(5, 0);
  const int n = 400000;
  double sum = 0, sum_sq = 0, sum_4 = 0;
  int beyond_2 = 0, beyond_4 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = ZigguratNormal(rng);
    sum += x;
    sum_sq += x * x;
    sum_4 += x * x * x * x;
    beyond_2 += std::abs(x) > 2.0;
    beyond_4 += std::abs(x) > 4.0;
  }
  EXPECT_NEAR(sum / n, 0.0, 4.0 / std::sqrt(n));
  EXPECT_NEAR(sum_sq / n, 1.0, 0.01);
  EXPECT_NEAR(sum_4 / n, 3.0, 0.06);
  // P(|X| > 2) = 0.0455, P(|X| > 4) = 6.3e-5 (exercises the tail branch).
  EXPECT_NEAR(beyond_2 / static_cast<double>(n), 0.0455, 0.0015);
  EXPECT_GT(beyond_4, 5);
  EXPECT_LT(beyond_4, 60);
}

TEST(MultiArmedBandit, SameSeedSameResultsAcrossBatchAndThreads) {
  MultiArmedBanditConfig config;
  config.num_arms = 7;
  config.horizon = 13;
  const auto reference = RunRewards(config, 8, 1, 40, 8);
  EXPECT_EQ(RunRewards(config, 8, 1, 40, 8), reference);
  EXPECT_EQ(RunRewards(config, 1000, 1, 40, 8), reference);
  EXPECT_EQ(RunRewards(config, 1000, 3, 40, 8), reference);
}

TEST(MultiArmedBandit, GaussianRewardMeansAndSpread) {
  MultiArmedBanditConfig config;
  config.num_arms = 4;
  config.horizon = 1000;
  config.sigma = 3.0;
  Harness h(config, 64, 3);
  const int steps = 400;
  std::vector<double> sum(64, 0.0), sum_sq(64, 0.0);
  std::vector<int32_t> actions(64);
  for (int64_t i = 0; i < 64; ++i) actions[static_cast<size_t>(i)] = static_cast<int32_t>(i % 4);
  for (int t = 0; t < steps; ++t) {
    h.vec.Step(actions.data());
    for (size_t i = 0; i < 64; ++i) {
      const double r = h.buffers.Get<float>("reward")[i];
      sum[i] += r;
      sum_sq[i] += r * r;
    }
  }
  double pooled_var = 0.0;
  for (size_t i = 0; i < 64; ++i) {
    const double mu = h.buffers.Get<float>("arm_means")[i * 4 + static_cast<size_t>(actions[i])];
    const double mean = sum[i] / steps;
    EXPECT_NEAR(mean, mu, 5.0 * 3.0 / std::sqrt(steps)) << "row " << i;
    pooled_var += sum_sq[i] / steps - mean * mean;
  }
  EXPECT_NEAR(std::sqrt(pooled_var / 64), 3.0, 0.06);
}

TEST(MultiArmedBandit, UniformMeansWithinBoundsAndCentred) {
  MultiArmedBanditConfig config;
  config.num_arms = 10;
  config.mean_low = -2.0;
  config.mean_high = 4.0;
  Harness h(config, 500, 9);
  const float* means = h.buffers.Get<float>("arm_means");
  double total = 0.0;
  for (int i = 0; i < 5000; ++i) {
    ASSERT_GE(means[i], -2.0f);
    ASSERT_LE(means[i], 4.0f);
    total += means[i];
  }
  EXPECT_NEAR(total / 5000, 1.0, 5 * 6.0 / std::sqrt(12.0 * 5000));
}

TEST(MultiArmedBandit, NormalMeansHaveLocAndScale) {
  MultiArmedBanditConfig config;
  config.num_arms = 10;
  config.mean_distribution = MeanDistribution::kNormal;
  config.mean_loc = 2.0;
  config.mean_scale = 0.5;
  Harness h(config, 1000, 2);
  const float* means = h.buffers.Get<float>("arm_means");
  double s = 0.0, s2 = 0.0;
  for (int i = 0; i < 10000; ++i) {
    s += means[i];
    s2 += means[i] * means[i];
  }
  EXPECT_NEAR(s / 10000, 2.0, 0.02);
  EXPECT_NEAR(std::sqrt(s2 / 10000 - (s / 10000) * (s / 10000)), 0.5, 0.02);
}

TEST(MultiArmedBandit, BernoulliGapAndRates) {
  MultiArmedBanditConfig config;
  config.num_arms = 5;
  config.horizon = 100000;
  config.reward_type = RewardType::kBernoulli;
  config.gap = BernoulliGapFor(NoiseLevel::kMedium);
  Harness h(config, 5, 4);
  const float* means = h.buffers.Get<float>("arm_means");
  const int32_t* optimal = h.buffers.Get<int32_t>("optimal_arm");
  for (int64_t i = 0; i < 5; ++i) {
    for (int a = 0; a < 5; ++a) {
      EXPECT_FLOAT_EQ(means[i * 5 + a], a == optimal[i] ? 0.6f : 0.4f);
    }
  }
  // Row i always pulls its optimal arm: the success rate is 0.6.
  std::vector<int32_t> actions(optimal, optimal + 5);
  double hits = 0.0;
  const int steps = 4000;
  for (int t = 0; t < steps; ++t) {
    h.vec.Step(actions.data());
    for (int i = 0; i < 5; ++i) {
      const float r = h.buffers.Get<float>("reward")[i];
      ASSERT_TRUE(r == 0.0f || r == 1.0f);
      hits += r;
    }
  }
  EXPECT_NEAR(hits / (5 * steps), 0.6, 5 * std::sqrt(0.24 / (5 * steps)));
}

TEST(MultiArmedBandit, BernoulliBestArmVariesAcrossInstances) {
  MultiArmedBanditConfig config;
  config.num_arms = 4;
  config.reward_type = RewardType::kBernoulli;
  Harness h(config, 400, 1);
  std::vector<int> hits(4, 0);
  for (int i = 0; i < 400; ++i) {
    ++hits[static_cast<size_t>(h.buffers.Get<int32_t>("optimal_arm")[i])];
  }
  for (int c : hits) EXPECT_NEAR(c, 100, 40);
}

TEST(MultiArmedBandit, CountsSumsRegretAndHorizon) {
  MultiArmedBanditConfig config;
  config.num_arms = 3;
  config.horizon = 5;
  Harness h(config, 2, 7);
  const float* means = h.buffers.Get<float>("arm_means");
  const int32_t* optimal = h.buffers.Get<int32_t>("optimal_arm");
  EXPECT_EQ(h.buffers.Get<int32_t>("last_action")[0], -1);
  EXPECT_EQ(h.buffers.Get<int64_t>("task_id")[0], -1);
  std::vector<double> sums(6, 0.0);
  std::vector<int> counts(6, 0);
  double regret0 = 0.0;
  const int32_t plan[5] = {0, 2, 2, 1, 2};
  for (int t = 0; t < 5; ++t) {
    const int32_t actions[2] = {plan[t], 1};
    h.vec.Step(actions);
    for (int64_t i = 0; i < 2; ++i) {
      const auto slot = static_cast<size_t>(i * 3 + actions[i]);
      ++counts[slot];
      sums[slot] += h.buffers.Get<float>("reward")[i];
      EXPECT_EQ(h.buffers.Get<int32_t>("last_action")[i], actions[i]);
      EXPECT_EQ(h.buffers.Get<float>("last_reward")[i], h.buffers.Get<float>("reward")[i]);
    }
    regret0 += means[optimal[0]] - means[plan[t]];
    EXPECT_EQ(h.buffers.Get<int32_t>("step")[0], t + 1);
    EXPECT_EQ(h.buffers.Get<bool>("terminated")[0], t == 4);
    EXPECT_FALSE(h.buffers.Get<bool>("truncated")[0]);
  }
  for (size_t s = 0; s < 6; ++s) {
    EXPECT_EQ(h.buffers.Get<int32_t>("counts")[s], counts[s]);
    EXPECT_NEAR(h.buffers.Get<float>("reward_sums")[s], sums[s], 1e-4);
  }
  EXPECT_NEAR(h.buffers.Get<float>("regret")[0], regret0, 1e-5);
  EXPECT_GE(h.buffers.Get<float>("regret")[1], 0.0f);
  // Next step autoresets: fresh counts, step 0.
  const int32_t any[2] = {0, 0};
  h.vec.Step(any);
  EXPECT_EQ(h.buffers.Get<int32_t>("step")[0], 0);
  EXPECT_EQ(h.buffers.Get<int32_t>("counts")[2], 0);
  EXPECT_EQ(h.buffers.Get<float>("regret")[0], 0.0f);
}

TEST(MultiArmedBandit, OptimalArmIsArgmax) {
  MultiArmedBanditConfig config;
  config.num_arms = 6;
  Harness h(config, 100, 8);
  for (int64_t i = 0; i < 100; ++i) {
    const float* m = h.buffers.Get<float>("arm_means") + i * 6;
    const auto best = std::max_element(m, m + 6) - m;
    EXPECT_EQ(h.buffers.Get<int32_t>("optimal_arm")[i], best);
  }
}

TEST(MultiArmedBandit, PoolModeDrawsTasksFromTheirOwnStream) {
  MultiArmedBanditConfig config;
  config.num_arms = 5;
  config.horizon = 2;
  config.task_seed = 77;
  config.pool_size = 8;
  config.pool_offset = 100;
  Harness h(config, 300, 5);
  std::set<int64_t> seen;
  std::vector<double> expected;
  for (int64_t i = 0; i < 300; ++i) {
    const int64_t task = h.buffers.Get<int64_t>("task_id")[i];
    ASSERT_GE(task, 100);
    ASSERT_LT(task, 108);
    seen.insert(task);
    Rng task_rng(77, static_cast<uint64_t>(task));
    MultiArmedBandit::DrawMeans(config, task_rng, &expected);
    for (int a = 0; a < 5; ++a) {
      EXPECT_EQ(h.buffers.Get<float>("arm_means")[i * 5 + a],
                static_cast<float>(expected[static_cast<size_t>(a)]));
    }
  }
  EXPECT_EQ(seen.size(), 8u);
  // The same task id gives the same instance in another env with another seed.
  Harness other(config, 1, 999);
  std::vector<int64_t> ids{103};
  other.vec.Reset(std::nullopt, nullptr, ids.data());
  Rng task_rng(77, 103);
  MultiArmedBandit::DrawMeans(config, task_rng, &expected);
  EXPECT_EQ(other.buffers.Get<int64_t>("task_id")[0], 103);
  EXPECT_EQ(other.buffers.Get<float>("arm_means")[0], static_cast<float>(expected[0]));
}

TEST(MultiArmedBandit, GivenTaskIdsOverridePoolAndFresh) {
  MultiArmedBanditConfig config;
  config.num_arms = 3;
  Harness fresh(config, 2, 1);
  std::vector<int64_t> ids{5, -1};
  fresh.vec.Reset(std::nullopt, nullptr, ids.data());
  EXPECT_EQ(fresh.buffers.Get<int64_t>("task_id")[0], 5);
  EXPECT_EQ(fresh.buffers.Get<int64_t>("task_id")[1], -1);
}

TEST(MultiArmedBandit, BadConfigsThrowNamingTheField) {
  auto expect_error = [](MultiArmedBanditConfig c, const std::string& field) {
    try {
      MultiArmedBandit::Validate(c);
      ADD_FAILURE() << "no error for " << field;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  MultiArmedBanditConfig c;
  c.num_arms = 1;
  expect_error(c, "num_arms");
  c = {};
  c.horizon = 0;
  expect_error(c, "horizon");
  c = {};
  c.sigma = -1.0;
  expect_error(c, "sigma");
  c = {};
  c.sigma = std::nan("");
  expect_error(c, "sigma");
  c = {};
  c.mean_low = 2.0;
  expect_error(c, "mean_low");
  c = {};
  c.mean_high = INFINITY;
  expect_error(c, "mean_high");
  c = {};
  c.gap = 1.5;
  expect_error(c, "gap");
  c = {};
  c.mean_scale = -0.1;
  expect_error(c, "mean_scale");
  c = {};
  c.pool_size = -1;
  expect_error(c, "pool_size");
  c = {};
  c.pool_offset = -3;
  expect_error(c, "pool_offset");
  c = {};
  c.pool_offset = INT64_MAX;
  c.pool_size = 2;
  expect_error(c, "pool_offset");
  EXPECT_THROW(MabVec(MultiArmedBanditConfig{1}, 4, 0, 1), InvalidArgument);
}

TEST(MultiArmedBandit, NoiseLevelTables) {
  EXPECT_EQ(GaussianSigmaFor(NoiseLevel::kLow), 0.1);
  EXPECT_EQ(GaussianSigmaFor(NoiseLevel::kMedium), 1.0);
  EXPECT_EQ(GaussianSigmaFor(NoiseLevel::kHigh), 3.0);
  EXPECT_EQ(BernoulliGapFor(NoiseLevel::kLow), 0.5);
  EXPECT_EQ(BernoulliGapFor(NoiseLevel::kMedium), 0.2);
  EXPECT_EQ(BernoulliGapFor(NoiseLevel::kHigh), 0.1);
}

}  // namespace
}  // namespace rlft
