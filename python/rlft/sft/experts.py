"""Text agents that write the answers a supervised example teaches. The one episode loop plays
them like any agent; each step's record (the prompt, the target answer, the label it names) is
one example.

- ``UCBExpert``: the paper's UCB expert, BC or TC targets.
- ``GreedyExpert``: the greedy bandit player (best mean so far), its counts-and-means rationale:
  the paper's failure mode, taught as a starting policy that over-exploits.
- ``AnsweringAgent``: a classic agent's move (minimax; random for the format-only data), answered
  'ACTION=<label>' or after the short rationale.

Prompts are RLFT's own, as plain text: the chat template depends on the model trained.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlft.agents.base import (Agent, BatchedAgent, Decision, Observation, StepRecord,
                              as_decision)
from rlft.agents.llm_agent import make_prompter, record_step
from rlft.text.env_prompts import PromptBatch
from rlft.text.prompts import (PromptConfig, epsilon_greedy_rationale, greedy_thought_rationale,
                               shown_means, ucb_thought_rationale)
from rlft.text.templates import ACTION_ANSWER


@dataclass
class ExampleStep(StepRecord):
    """A step record that also keeps the label its answer names: under randomised labels the
    prompt shows the action under a label that the action alone does not tell."""

    label: str = ""


class TextExpert(BatchedAgent):
    """Renders every row's prompt, picks the actions and writes an answer per row."""

    name = "text_expert"

    def __init__(self, env: Any, prompt: PromptConfig) -> None:
        super().__init__()
        self.env = env
        self.prompt = prompt
        self.prompter: Any = None

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        super().reset(num_envs, num_actions, seed)
        self.prompter = make_prompter(self.env, self.prompt, num_envs, seed)

    def act(self, obs: Observation, info: Observation) -> Decision:
        self._require_reset()
        batch = self.prompter.render(obs, info)
        actions, targets = self._answer(batch, obs, info)
        return Decision(actions, [
            ExampleStep(prompt=batch.texts[row], generation=targets[row], status="OK",
                        parsed_action=int(actions[row]), invalid=False,
                        label=batch.displayed_label(row, int(actions[row])))
            for row in range(self.num_envs)])

    def observe(self, actions: np.ndarray, reward: np.ndarray, obs: Observation,
                info: Observation) -> None:
        record_step(self.prompter, self.env, actions, reward, info)

    @abstractmethod
    def _answer(self, batch: PromptBatch, obs: Observation, info: Observation
                ) -> tuple[np.ndarray, list[str]]:
        """(env actions int32[B], target answer per row)."""


class UCBExpert(TextExpert):
    """Every arm once in label order, then the highest mean + sqrt(1 / count), lowest index on
    ties, read from the prompter's history (the numbers the prompt's summary shows). bc answers
    'ACTION=<label>'; tc the Fig. 12 rationale ending in the same action, worded like the
    compact prompt with ``compact``."""

    name = "ucb_expert"

    def __init__(self, env: Any, prompt: PromptConfig, target: str, compact: bool) -> None:
        super().__init__(env, prompt)
        self.target = target
        self.compact = compact

    def _answer(self, batch: PromptBatch, obs: Observation, info: Observation
                ) -> tuple[np.ndarray, list[str]]:
        actions = np.zeros(self.num_envs, dtype=np.int32)
        targets = []
        for row in range(self.num_envs):
            text, action = ucb_thought_rationale(
                batch.labels, self.prompter.history.counts(row),
                self.prompter.history.reward_sums(row), self.prompt.reward_decimals,
                self.compact)
            actions[row] = action
            targets.append(text if self.target == "tc"
                           else ACTION_ANSWER.format(label=batch.labels[action]))
        return actions, targets


class GreedyExpert(TextExpert):
    """The best mean so far, untried arms counting as 0 (so, with positive rewards, the first
    arm pulled is kept), after the counts-and-means rationale (``greedy_thought_rationale``).
    With probability ``epsilon`` a step explores a uniformly random untried arm instead, so
    that a policy cloned from it gives exploring some probability for RL to reinforce. Ties
    among untried arms are broken at random, as GreedyAgent breaks them. Without CoT the
    answer is the rationale's last line, 'ACTION=<label>'."""

    name = "greedy_expert"

    def __init__(self, env: Any, prompt: PromptConfig, epsilon: float = 0.0) -> None:
        super().__init__(env, prompt)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon
        self.rng = np.random.default_rng()

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        super().reset(num_envs, num_actions, seed)
        self.rng = np.random.default_rng([seed, 11])

    def _answer(self, batch: PromptBatch, obs: Observation, info: Observation
                ) -> tuple[np.ndarray, list[str]]:
        actions = np.zeros(self.num_envs, dtype=np.int32)
        targets = []
        for row in range(self.num_envs):
            counts = self.prompter.history.counts(row)
            sums = self.prompter.history.reward_sums(row)
            untried = np.flatnonzero(counts == 0)
            means = shown_means(counts, sums, self.prompt.reward_decimals)
            exploits = bool(np.any((counts > 0) & (means > 0)))
            explore = None
            if untried.size and (not exploits or self.rng.random() < self.epsilon):
                explore = int(self.rng.choice(untried))
            text, actions[row] = greedy_thought_rationale(
                batch.labels, counts, sums, self.prompt.reward_decimals, explore)
            targets.append(text if self.prompt.cot
                           else ACTION_ANSWER.format(label=batch.labels[actions[row]]))
        return actions, targets


class AnsweringAgent(TextExpert):
    """Plays ``player``'s moves and answers each with the move's label, after the short
    (epsilon-greedy) rationale with ``rationale``."""

    def __init__(self, env: Any, prompt: PromptConfig, player: Agent,
                 rationale: bool = False) -> None:
        super().__init__(env, prompt)
        self.player = player
        self.rationale = rationale
        self.name = f"{player.name}_answers"

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        super().reset(num_envs, num_actions, seed)
        self.player.reset(num_envs, num_actions, seed)

    def observe(self, actions: np.ndarray, reward: np.ndarray, obs: Observation,
                info: Observation) -> None:
        super().observe(actions, reward, obs, info)
        self.player.observe(actions, reward, obs, info)

    def _answer(self, batch: PromptBatch, obs: Observation, info: Observation
                ) -> tuple[np.ndarray, list[str]]:
        actions = as_decision(self.player.act(obs, info)).actions
        labels = [batch.displayed_label(row, int(a)) for row, a in enumerate(actions)]
        return actions, [epsilon_greedy_rationale(label) if self.rationale
                         else ACTION_ANSWER.format(label=label) for label in labels]


class OnBehaviourStates(BatchedAgent):
    """Plays ``behaviour``'s actions and records, for every state they reach, the answer
    ``expert`` would write there: a greedy *label* does not need greedy *states*. The expert
    sees the played actions and rewards (its prompter's history is the behaviour's)."""

    def __init__(self, expert: TextExpert, behaviour: Agent) -> None:
        super().__init__()
        self.expert = expert
        self.behaviour = behaviour
        self.name = f"{expert.name}_on_{behaviour.name}"

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        super().reset(num_envs, num_actions, seed)
        self.expert.reset(num_envs, num_actions, seed)
        self.behaviour.reset(num_envs, num_actions, seed)

    def act(self, obs: Observation, info: Observation) -> Decision:
        answered = as_decision(self.expert.act(obs, info))
        played = as_decision(self.behaviour.act(obs, info)).actions
        return Decision(played, answered.steps)

    def observe(self, actions: np.ndarray, reward: np.ndarray, obs: Observation,
                info: Observation) -> None:
        self.expert.observe(actions, reward, obs, info)
        self.behaviour.observe(actions, reward, obs, info)
