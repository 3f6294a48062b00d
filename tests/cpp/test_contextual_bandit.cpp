// Contextual bandit: rewards and regret from the table, users drawn from the split,
// determinism across batch sizes and threads, noise statistics, bad data and configs.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "rlft/core/buffers.h"
#include "rlft/core/vector_env.h"
#include "rlft/envs/contextual_bandit.h"

namespace rlft {
namespace {

using CbVec = VectorEnv<ContextualBandit>;

// 6 users x 3 movies; user u's reward for movie a is u + a/10 (user 5: reversed), d = 2.
ContextualBanditConfig MakeConfig(std::vector<int64_t> users, int32_t horizon = 4,
                                  double noise = 0.0) {
  std::vector<float> rewards;
  std::vector<float> contexts;
  for (int u = 0; u < 6; ++u) {
    for (int a = 0; a < 3; ++a) {
      rewards.push_back(static_cast<float>(u + (u == 5 ? 2 - a : a) / 10.0));
    }
    contexts.push_back(static_cast<float>(u));
    contexts.push_back(static_cast<float>(-u));
  }
  ContextualBanditConfig config;
  config.data = ContextualBanditData::Create(rewards.data(), 6, 3, contexts.data(), 2,
                                             users.data(), static_cast<int64_t>(users.size()));
  config.horizon = horizon;
  config.noise_std = noise;
  return config;
}

struct Harness {
  Harness(const ContextualBanditConfig& config, int64_t batch, uint64_t seed, int threads = 1)
      : vec(config, batch, seed, threads), buffers(CbVec::BufferSpecs(config, batch)) {
    vec.Bind(buffers.map());
    vec.Reset(std::nullopt, nullptr, nullptr);
  }
  CbVec vec;
  OwnedBuffers buffers;
};

TEST(ContextualBandit, RewardRegretContextAndHorizon) {
  Harness h(MakeConfig({0, 1, 2, 3, 4, 5}), 3, 1);
  double regret[3] = {0, 0, 0};
  for (int t = 0; t < 4; ++t) {
    int32_t users[3];
    for (int i = 0; i < 3; ++i) {
      users[i] = h.buffers.Get<int32_t>("user")[i];
      EXPECT_EQ(h.buffers.Get<float>("context")[i * 2], static_cast<float>(users[i]));
      EXPECT_EQ(h.buffers.Get<float>("context")[i * 2 + 1], static_cast<float>(-users[i]));
      EXPECT_EQ(h.buffers.Get<int32_t>("optimal_action")[i], users[i] == 5 ? 0 : 2);
      EXPECT_EQ(h.buffers.Get<float>("expected_rewards")[i * 3 + 1],
                static_cast<float>(users[i] + 0.1));
    }
    const int32_t actions[3] = {0, 1, 2};
    h.vec.Step(actions);
    for (int i = 0; i < 3; ++i) {
      const float* row = h.vec.config().data->rewards.data() + users[i] * 3;
      EXPECT_EQ(h.buffers.Get<float>("reward")[i], row[actions[i]]);
      EXPECT_EQ(h.buffers.Get<float>("last_reward")[i], row[actions[i]]);
      regret[i] += std::max({row[0], row[1], row[2]}) - row[actions[i]];
      EXPECT_NEAR(h.buffers.Get<float>("regret")[i], regret[i], 1e-5);
      EXPECT_EQ(h.buffers.Get<int32_t>("step")[i], t + 1);
      EXPECT_EQ(h.buffers.Get<bool>("terminated")[i], t == 3);
    }
  }
  const int32_t ignored[3] = {-1, 7, 0};
  h.vec.Step(ignored);  // autoreset
  EXPECT_EQ(h.buffers.Get<int32_t>("step")[0], 0);
  EXPECT_EQ(h.buffers.Get<float>("regret")[0], 0.0f);
}

TEST(ContextualBandit, UsersComeFromTheSplitUniformly) {
  Harness h(MakeConfig({1, 4, 5}, 1000), 100, 2);
  std::vector<int> hits(6, 0);
  const std::vector<int32_t> actions(100, 0);
  for (int t = 0; t < 300; ++t) {
    for (int i = 0; i < 100; ++i) ++hits[static_cast<size_t>(h.buffers.Get<int32_t>("user")[i])];
    h.vec.Step(actions.data());
  }
  EXPECT_EQ(hits[0] + hits[2] + hits[3], 0);
  for (int u : {1, 4, 5}) EXPECT_NEAR(hits[static_cast<size_t>(u)], 10000, 500);
}

TEST(ContextualBandit, SameResultsAcrossBatchSizesAndThreads) {
  auto run = [](int64_t batch, int threads) {
    Harness h(MakeConfig({0, 2, 3, 5}, 5), batch, 9, threads);
    std::vector<int32_t> actions(static_cast<size_t>(batch));
    std::vector<float> out;
    for (int t = 0; t < 30; ++t) {
      for (int64_t i = 0; i < batch; ++i) {
        actions[static_cast<size_t>(i)] = static_cast<int32_t>((i + t) % 3);
      }
      h.vec.Step(actions.data());
      for (int64_t i = 0; i < 4; ++i) {
        out.push_back(h.buffers.Get<float>("reward")[i]);
        out.push_back(static_cast<float>(h.buffers.Get<int32_t>("user")[i]));
      }
    }
    return out;
  };
  const auto reference = run(4, 1);
  EXPECT_EQ(run(1000, 1), reference);
  EXPECT_EQ(run(1000, 3), reference);
}

TEST(ContextualBandit, GaussianNoiseStatistics) {
  Harness h(MakeConfig({0, 1, 2, 3, 4, 5}, 100000, 0.5), 50, 3);
  const std::vector<int32_t> actions(50, 1);
  double sum = 0.0, sum_sq = 0.0;
  const int steps = 400;
  for (int t = 0; t < steps; ++t) {
    std::vector<float> expected(50);
    for (size_t i = 0; i < 50; ++i) {
      expected[i] = h.buffers.Get<float>("expected_rewards")[i * 3 + 1];
    }
    h.vec.Step(actions.data());
    for (size_t i = 0; i < 50; ++i) {
      const double e = h.buffers.Get<float>("reward")[i] - expected[i];
      sum += e;
      sum_sq += e * e;
    }
  }
  const double n = 50.0 * steps;
  EXPECT_NEAR(sum / n, 0.0, 5 * 0.5 / std::sqrt(n));
  EXPECT_NEAR(std::sqrt(sum_sq / n), 0.5, 0.015);
}

TEST(ContextualBandit, BadDataAndConfigThrow) {
  std::vector<float> rewards(6, 1.0f);
  std::vector<float> contexts(3, 0.0f);
  std::vector<int64_t> users{0, 1};
  const auto create = [&](int64_t num_users, int64_t num_actions, const int64_t* split,
                          int64_t split_size) {
    return ContextualBanditData::Create(rewards.data(), num_users, num_actions, contexts.data(), 1,
                                        split, split_size);
  };
  EXPECT_NO_THROW(create(3, 2, users.data(), 2));
  std::vector<int64_t> bad_users{0, 3};
  EXPECT_THROW(create(3, 2, bad_users.data(), 2), InvalidArgument);  // user 3 of 3
  EXPECT_THROW(create(3, 2, users.data(), 0), InvalidArgument);      // empty split
  EXPECT_THROW(create(6, 1, users.data(), 2), InvalidArgument);      // one action
  rewards[3] = std::nanf("");
  try {
    create(3, 2, users.data(), 2);
    ADD_FAILURE() << "NaN reward accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("rewards[1, 1]"), std::string::npos) << e.what();
  }
  ContextualBanditConfig no_data;
  EXPECT_THROW(ContextualBandit::Validate(no_data), InvalidArgument);
  auto config = MakeConfig({0});
  config.horizon = 0;
  EXPECT_THROW(ContextualBandit::Validate(config), InvalidArgument);
  config = MakeConfig({0});
  config.noise_std = -1.0;
  EXPECT_THROW(ContextualBandit::Validate(config), InvalidArgument);
  config.noise_std = INFINITY;
  EXPECT_THROW(CbVec(config, 2, 0, 1), InvalidArgument);
}

}  // namespace
}  // namespace rlft
