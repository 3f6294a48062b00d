"""RL fine-tuning: rewards, advantages and losses (pure functions), rollouts and the engine."""
