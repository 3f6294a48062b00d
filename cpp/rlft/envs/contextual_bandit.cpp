#include "rlft/envs/contextual_bandit.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "rlft/core/check.h"

namespace rlft {

std::shared_ptr<const ContextualBanditData> ContextualBanditData::Create(
    const float* rewards, int64_t num_users, int64_t num_actions, const float* contexts,
    int64_t context_dim, const int64_t* users, int64_t num_split_users) {
  Check(num_users >= 1, "the reward table needs >= 1 user, got ", num_users);
  Check(num_users <= INT32_MAX, "too many users: ", num_users);
  Check(num_actions >= 2, "the reward table needs >= 2 actions (movies), got ", num_actions);
  Check(num_actions <= (1 << 20), "too many actions (movies): ", num_actions);
  Check(context_dim >= 1 && context_dim <= (1 << 20), "context_dim must be in [1, 2^20], got ",
        context_dim);
  Check(num_split_users >= 1, "the split needs >= 1 user, got ", num_split_users);
  auto data = std::make_shared<ContextualBanditData>();
  data->num_users = num_users;
  data->num_actions = static_cast<int32_t>(num_actions);
  data->context_dim = static_cast<int32_t>(context_dim);
  data->rewards.assign(rewards, rewards + num_users * num_actions);
  data->contexts.assign(contexts, contexts + num_users * context_dim);
  for (size_t i = 0; i < data->rewards.size(); ++i) {
    Check(std::isfinite(data->rewards[i]), "rewards[", static_cast<int64_t>(i) / num_actions,
          ", ", static_cast<int64_t>(i) % num_actions, "] is not finite: ", data->rewards[i]);
  }
  for (size_t i = 0; i < data->contexts.size(); ++i) {
    Check(std::isfinite(data->contexts[i]), "contexts[", static_cast<int64_t>(i) / context_dim,
          ", ", static_cast<int64_t>(i) % context_dim, "] is not finite: ", data->contexts[i]);
  }
  data->users.reserve(static_cast<size_t>(num_split_users));
  for (int64_t i = 0; i < num_split_users; ++i) {
    Check(users[i] >= 0 && users[i] < num_users, "users[", i, "] = ", users[i],
          " is not a row of the reward table [0, ", num_users, ")");
    data->users.push_back(static_cast<int32_t>(users[i]));
  }
  data->best_action.resize(static_cast<size_t>(num_users));
  data->best_reward.resize(static_cast<size_t>(num_users));
  for (int64_t u = 0; u < num_users; ++u) {
    const float* row = data->rewards.data() + u * num_actions;
    const auto best = std::max_element(row, row + num_actions) - row;  // first maximum
    data->best_action[static_cast<size_t>(u)] = static_cast<int32_t>(best);
    data->best_reward[static_cast<size_t>(u)] = row[best];
  }
  return data;
}

void ContextualBandit::Validate(const Config& c) {
  Check(c.data != nullptr, "data is not set: build it with ContextualBanditConfig.set_data");
  Check(c.horizon >= 1, "horizon must be >= 1, got ", c.horizon);
  Check(std::isfinite(c.noise_std), "noise_std must be finite, got ", c.noise_std);
  Check(c.noise_std >= 0.0, "noise_std must be >= 0, got ", c.noise_std);
}

int32_t ContextualBandit::NumActions(const Config& c) {
  Check(c.data != nullptr, "data is not set");
  return c.data->num_actions;
}

std::vector<BufferSpec> ContextualBandit::BufferSpecs(const Config& c, int64_t b) {
  const int64_t k = c.data->num_actions;
  const int64_t d = c.data->context_dim;
  return {
      {"step", DType::kInt32, {b}, "steps taken this episode"},
      {"user", DType::kInt32, {b}, "user to recommend to now (row of the dataset's user table)"},
      {"context", DType::kFloat32, {b, d}, "the user's latent (SVD) vector"},
      {"optimal_action", DType::kInt32, {b}, "best movie for the current user"},
      {"regret", DType::kFloat32, {b}, "cumulative regret this episode"},
      {"last_reward", DType::kFloat32, {b}, "reward of the last step (0 before the first)"},
      {"expected_rewards", DType::kFloat32, {b, k}, "the current user's reward for every movie"},
  };
}

ContextualBandit::Outputs::Outputs(const BufferMap& buffers, const Config& config)
    : num_actions(config.data->num_actions),
      context_dim(config.data->context_dim),
      step(buffers.Get<int32_t>("step")),
      user(buffers.Get<int32_t>("user")),
      context(buffers.Get<float>("context")),
      optimal_action(buffers.Get<int32_t>("optimal_action")),
      regret(buffers.Get<float>("regret")),
      last_reward(buffers.Get<float>("last_reward")),
      expected_rewards(buffers.Get<float>("expected_rewards")) {}

ContextualBandit::ContextualBandit(const Config& config)
    : data_(config.data.get()), config_(config) {}

void ContextualBandit::DrawUser(Rng& rng) {
  user_ = data_->users[rng.UniformInt(data_->users.size())];
}

void ContextualBandit::Reset(Rng& rng, int64_t /*task_id*/) {
  step_ = 0;
  regret_ = 0.0;
  last_reward_ = 0.0;
  DrawUser(rng);
}

StepResult ContextualBandit::Step(int32_t action, Rng& rng) {
  const auto u = static_cast<size_t>(user_);
  const float expected = data_->rewards[u * static_cast<size_t>(data_->num_actions) +
                                        static_cast<size_t>(action)];
  double reward = expected;
  if (config_.noise_std > 0.0) reward += config_.noise_std * rng.Normal();
  regret_ += static_cast<double>(data_->best_reward[u]) - static_cast<double>(expected);
  last_reward_ = reward;
  ++step_;
  const bool terminated = step_ >= config_.horizon;
  if (!terminated) DrawUser(rng);  // at the horizon the observation keeps the last user
  return {reward, terminated, false};
}

void ContextualBandit::Write(int64_t row, const Outputs& out) const {
  const auto u = static_cast<size_t>(user_);
  out.step[row] = step_;
  out.user[row] = user_;
  out.optimal_action[row] = data_->best_action[u];
  out.regret[row] = static_cast<float>(regret_);
  out.last_reward[row] = static_cast<float>(last_reward_);
  std::memcpy(out.context + row * out.context_dim,
              data_->contexts.data() + u * static_cast<size_t>(out.context_dim),
              sizeof(float) * static_cast<size_t>(out.context_dim));
  std::memcpy(out.expected_rewards + row * out.num_actions,
              data_->rewards.data() + u * static_cast<size_t>(out.num_actions),
              sizeof(float) * static_cast<size_t>(out.num_actions));
}

}  // namespace rlft
