// Tests of the generic core: RNG streams, the thread pool and VectorEnv's batching,
// action checks and next-step autoreset, on a small countdown env defined here.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "rlft/core/buffers.h"
#include "rlft/core/rng.h"
#include "rlft/core/thread_pool.h"
#include "rlft/core/vector_env.h"

namespace rlft {
namespace {

TEST(Rng, SameSeedAndStreamGiveSameNumbers) {
  Rng a(7, 3);
  Rng b(7, 3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.NextU64(), b.NextU64());
}

TEST(Rng, StreamsDiffer) {
  Rng a(7, 0);
  Rng b(7, 1);
  Rng c(8, 0);
  const uint64_t x = a.NextU64();
  EXPECT_NE(x, b.NextU64());
  EXPECT_NE(x, c.NextU64());
}

TEST(Rng, UniformIntIsInRangeAndCoversIt) {
  Rng rng(1, 0);
  std::vector<int> hits(7, 0);
  for (int i = 0; i < 7000; ++i) {
    const uint64_t v = rng.UniformInt(7);
    ASSERT_LT(v, 7u);
    ++hits[v];
  }
  for (int h : hits) EXPECT_NEAR(h, 1000, 150);
}

TEST(Rng, NormalMomentsMatch) {
  Rng rng(2, 0);
  const int n = 200000;
  double sum = 0.0;
  double sum_sq = 0.0;
  for (int i = 0; i < n; ++i) {
    const double x = rng.Normal(1.5, 2.0);
    sum += x;
    sum_sq += x * x;
  }
  const double mean = sum / n;
  const double var = sum_sq / n - mean * mean;
  EXPECT_NEAR(mean, 1.5, 4 * 2.0 / std::sqrt(n));
  EXPECT_NEAR(var, 4.0, 0.05);
}

TEST(Rng, StateRoundTrips) {
  Rng a(3, 4);
  a.NextU64();
  Rng b;
  b.set_state(a.state());
  EXPECT_EQ(a.NextU64(), b.NextU64());
}

TEST(ThreadPool, EveryIndexVisitedOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 5, 1000, 4097}) {
      std::vector<int> visits(static_cast<size_t>(n), 0);
      pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) ++visits[static_cast<size_t>(i)];
      }, 16);
      for (int v : visits) ASSERT_EQ(v, 1);
    }
  }
}

// Countdown: episode of `length` steps; reward = action + a uniform draw; terminated at 0.
struct Countdown {
  struct Config {
    int32_t length = 3;
    int32_t num_actions = 4;
  };
  struct Outputs {
    Outputs(const BufferMap& buffers, const Config&) : left(buffers.Get<int32_t>("left")) {}
    int32_t* left;
  };
  static void Validate(const Config& c) { Check(c.length >= 1, "length must be >= 1"); }
  static int32_t NumActions(const Config& c) { return c.num_actions; }
  static std::vector<BufferSpec> BufferSpecs(const Config&, int64_t b) {
    return {{"left", DType::kInt32, {b}, "steps left"}};
  }
  explicit Countdown(const Config& c) : config(c) {}
  void Reset(Rng&, int64_t) { left = config.length; }
  StepResult Step(int32_t action, Rng& rng) {
    --left;
    return {action + rng.Uniform(), left == 0, false};
  }
  void Write(int64_t row, const Outputs& out) const { out.left[row] = left; }

  Config config;
  int32_t left = 0;
};

using CountdownVec = VectorEnv<Countdown>;

TEST(VectorEnv, NextStepAutoreset) {
  CountdownVec vec({2, 4}, 2, 0, 1);
  OwnedBuffers buffers(CountdownVec::BufferSpecs(vec.config(), 2));
  vec.Bind(buffers.map());
  vec.Reset(std::nullopt, nullptr, nullptr);
  int32_t* left = buffers.Get<int32_t>("left");
  bool* terminated = buffers.Get<bool>("terminated");
  float* reward = buffers.Get<float>("reward");
  const int32_t actions[2] = {1, 2};
  EXPECT_EQ(left[0], 2);
  vec.Step(actions);
  EXPECT_EQ(left[0], 1);
  EXPECT_FALSE(terminated[0]);
  vec.Step(actions);
  EXPECT_EQ(left[0], 0);
  EXPECT_TRUE(terminated[0]);
  EXPECT_GE(reward[1], 2.0f);
  // The next step resets instead of stepping, even with an out-of-range action.
  const int32_t ignored[2] = {-5, 99};
  vec.Step(ignored);
  EXPECT_EQ(left[0], 2);
  EXPECT_FALSE(terminated[0]);
  EXPECT_EQ(reward[0], 0.0f);
}

TEST(VectorEnv, OutOfRangeActionThrowsBeforeAnyChange) {
  CountdownVec vec({5, 4}, 3, 0, 1);
  OwnedBuffers buffers(CountdownVec::BufferSpecs(vec.config(), 3));
  vec.Bind(buffers.map());
  vec.Reset(std::nullopt, nullptr, nullptr);
  const int32_t bad[3] = {0, 1, 4};
  EXPECT_THROW(vec.Step(bad), InvalidArgument);
  EXPECT_EQ(buffers.Get<int32_t>("left")[0], 5);  // row 0 was not stepped
}

TEST(VectorEnv, ResultsIndependentOfBatchSizeAndThreads) {
  auto run = [](int64_t batch, int threads) {
    CountdownVec vec({7, 3}, batch, 42, threads);
    OwnedBuffers buffers(CountdownVec::BufferSpecs(vec.config(), batch));
    vec.Bind(buffers.map());
    vec.Reset(std::nullopt, nullptr, nullptr);
    std::vector<int32_t> actions(static_cast<size_t>(batch), 1);
    std::vector<float> first_rows;
    for (int t = 0; t < 20; ++t) {
      vec.Step(actions.data());
      for (int64_t i = 0; i < 8; ++i) first_rows.push_back(buffers.Get<float>("reward")[i]);
    }
    return first_rows;
  };
  const auto reference = run(8, 1);
  EXPECT_EQ(run(1000, 1), reference);
  EXPECT_EQ(run(1000, 3), reference);
}

TEST(VectorEnv, MaskedResetAndReseed) {
  CountdownVec vec({4, 2}, 2, 1, 1);
  OwnedBuffers buffers(CountdownVec::BufferSpecs(vec.config(), 2));
  vec.Bind(buffers.map());
  vec.Reset(std::nullopt, nullptr, nullptr);
  const int32_t actions[2] = {0, 0};
  vec.Step(actions);
  const bool mask[2] = {true, false};
  vec.Reset(9, mask, nullptr);
  EXPECT_EQ(buffers.Get<int32_t>("left")[0], 4);
  EXPECT_EQ(buffers.Get<int32_t>("left")[1], 3);
  Rng expected(9, 0);
  EXPECT_EQ(vec.rng(0).state(), expected.state());
}

}  // namespace
}  // namespace rlft
