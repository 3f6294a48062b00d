"""The LLM agent: any Hugging Face causal LM playing a batch of env rows through text.

Each step: env buffers -> prompts (rlft.text) -> chat template -> token ids (the prompts'
shared prefix tokenised once per rollout, each row's remainder on its own) -> batched
generation (the prefix's key/value states computed once per rollout) -> C++ action parser ->
the paper's rule for invalid answers (a uniformly random valid action, flagged) -> env
actions. The exploration mechanisms of the paper (§5) are options: try-all and epsilon-greedy
replace the model's answer by a template rationale on forced steps; context summary and context
randomisation are prompt options (PromptConfig.summary, PromptConfig.randomise_labels);
self-consistency takes a majority vote over several samples; self-correction asks the model to
check its answer in a second turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from rlft.agents.base import BatchedAgent, Decision, Observation, StepRecord
from rlft.agents.generation import (Generations, HFGenerator, PromptEncoder, SamplingConfig,
                                    TokenGenerator)
from rlft.text import ActionParser, ParseResult, ParseStatus, step_actions
from rlft.text.chat import format_chat, shared_chat_prefix
from rlft.text.env_prompts import CbPrompter, MabPrompter, PromptBatch, TicTacToePrompter
from rlft.text.prompts import (PromptConfig, describe_user, epsilon_greedy_rationale,
                               try_all_rationale)
from rlft.text.templates import ANSWER_PREFIX, SELF_CORRECTION_MESSAGE


@dataclass
class ExplorationConfig:
    """Exploration mechanisms of the paper (§5) applied at decision time."""

    try_all: bool = field(default=False, metadata={
        "help": "Bandits: play every untried arm once first (label order), with a template "
                "rationale instead of a generation."})
    epsilon: float = field(default=0.0, metadata={
        "help": "Probability per row and step of a uniformly random action with a template "
                "rationale (paper: 0.1)."})
    self_consistency: int = field(default=1, metadata={
        "help": "Samples per step; the most frequent valid action wins (paper: 16). Needs "
                "temperature > 0 when > 1."})
    self_correction: bool = field(default=False, metadata={
        "help": "Second turn: the model sees its answer and a request to check it; the "
                "second answer is executed."})

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")
        if self.self_consistency < 1:
            raise ValueError(f"self_consistency must be >= 1, got {self.self_consistency}")


def prefix_completion(text: str) -> str:
    """The answer under the answer-prefix protocol: the completion of 'ACTION=' up to the end
    of its line. A base model goes on writing made-up history lines ('Step=1 Action=red
    Reward=0.5') or questions after the label; the paper's last-match parse would read such a
    line as the answer."""
    return text.split("\n", 1)[0]


def make_prompter(env: Any, prompt: PromptConfig, num_envs: int, seed: int) -> Any:
    """The prompter matching an env made by rlft.envs.make."""
    kind = type(env).__name__
    config = env.config
    if kind == "MultiArmedBanditEnv":
        return MabPrompter(prompt, num_envs, config.num_arms, config.horizon,
                           config.reward_type, seed)
    if kind == "ContextualBanditEnv":
        data = env.dataset
        descriptions = [describe_user(int(data.ages[user]), data.genders[user],
                                      data.occupations[user], data.location(user))
                        for user in range(data.num_users)]
        return CbPrompter(prompt, num_envs, env.movie_names, config.horizon, descriptions, seed)
    if kind == "TicTacToeEnv":
        return TicTacToePrompter(prompt, num_envs, seed)
    raise ValueError(f"no prompts for env type {kind}")


def record_step(prompter: Any, env: Any, actions: np.ndarray, reward: np.ndarray,
                info: Observation) -> None:
    """Adds one env step to the prompter's histories: the actions the env executed (a
    replaced invalid one included) and their rewards; the prompter clears a row's history on
    its autoreset step (the env's NEXT_STEP rule)."""
    executed = np.asarray(info.get("executed_action", actions), dtype=np.int32)
    prompter.record(executed, reward, env.buffers["terminated"], env.buffers["truncated"])


class LLMAgent(BatchedAgent):
    """Plays B env rows with one model; see the module docstring for one step's pipeline."""

    name = "llm"

    def __init__(self, model: Any, tokenizer: Any, env: Any, prompt: PromptConfig | None = None,
                 sampling: SamplingConfig | None = None,
                 exploration: ExplorationConfig | None = None, synced_gpus: bool = False,
                 answer_patterns: Sequence[str] | None = None,
                 generator: TokenGenerator | None = None) -> None:
        """generator: the generation engine (default: Hugging Face generate on `model`, in
        lock-step across ranks with synced_gpus)."""
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.env = env
        self.prompt = prompt or PromptConfig()
        self.sampling = sampling or SamplingConfig()
        self.exploration = exploration or ExplorationConfig()
        if self.exploration.self_consistency > 1 and self.sampling.temperature == 0:
            raise ValueError("self_consistency > 1 needs temperature > 0 (greedy samples agree)")
        # Parser templates (None: the paper's ACTION=X); analyses may add prose forms.
        self.answer_patterns = tuple(answer_patterns) if answer_patterns is not None else None
        self.synced_gpus = synced_gpus  # ZeRO-3 on several ranks: generate in lock-step
        self.generator = generator or HFGenerator(model, tokenizer, synced_gpus)
        self.new_tokens = 0
        self.generate_seconds = 0.0  # wall time inside generate(), for overhead accounting
        self._prompter: Any = None
        self._encoder: PromptEncoder | None = None
        self._parser: ActionParser | None = None
        self._rng = np.random.default_rng(0)
        self._seed = 0
        self._calls = 0

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        """Starts a rollout. The model's weights must not change until the next reset: the
        prompts' shared prefix is run once per rollout."""
        super().reset(num_envs, num_actions, seed)
        self._prompter = make_prompter(self.env, self.prompt, num_envs, seed)
        if self.tokenizer is not None:
            self._encoder = PromptEncoder(
                self.tokenizer, shared_chat_prefix(self.tokenizer, self._prompter.shared_text()),
                self.sampling.max_prompt_tokens)
        if self._encoder is not None:
            self.generator.start_rollout(self._encoder.prefix_ids)
        self._parser = (ActionParser(self._prompter.labels) if self.answer_patterns is None
                        else ActionParser(self._prompter.labels, self.answer_patterns))
        self._rng = np.random.default_rng([seed, 1])
        self._seed = seed
        self._calls = 0

    def act(self, obs: Observation, info: Observation) -> Decision:
        """The actions and, per row, the prompt, the answer (text and exact token ids), its
        parse status and whether an exploration mechanism forced it."""
        self._require_reset()
        batch: PromptBatch = self._prompter.render(obs, info)
        legal = np.asarray(obs["legal_mask"], dtype=bool) if "legal_mask" in obs else None
        forced_actions, forced_kind = self._forced_actions(obs, legal)
        texts = [""] * self.num_envs
        chats = [""] * self.num_envs
        tokens: list[tuple[list[int], list[int]]] = [([], [])] * self.num_envs
        sampled_logprobs: list[list[float]] = [[] for _ in range(self.num_envs)]
        free = np.flatnonzero(forced_actions < 0)
        # In lock-step (ZeRO-3 on several ranks) every rank asks the model at every step, so
        # that all make the same generate() calls; a rank with no free row asks for row 0 and
        # drops the answer.
        asked = free if free.size or not self.synced_gpus else np.zeros(1, dtype=np.int64)
        if asked.size:
            answers, chat_texts, generated = self._ask_model([batch.texts[row] for row in asked])
            for index, row in enumerate(free):
                texts[row], chats[row] = answers[index], chat_texts[index]
                if generated is not None:
                    tokens[row] = (generated.prompt_ids[index], generated.token_ids[index])
                    if generated.logprobs is not None:
                        sampled_logprobs[row] = generated.logprobs[index]
        for row in np.flatnonzero(forced_actions >= 0):
            label = batch.displayed_label(int(row), int(forced_actions[row]))
            rationale = (try_all_rationale(label) if forced_kind[row] == "try_all"
                         else epsilon_greedy_rationale(label))
            if self.prompt.answer_prefix:  # the prompt has written 'ACTION=' already
                rationale = label
            texts[row] = rationale
            chats[row] = self._chat(batch.texts[row]) if self.tokenizer is not None \
                else batch.texts[row]
            if self._encoder is not None:
                tokens[row] = self._forced_tokens(chats[row], rationale)
        parsed = self._parse(texts, batch, legal)
        chosen = step_actions(parsed, self.num_actions, self._rng, legal)
        return Decision(chosen.actions, [
            StepRecord(prompt=chats[row], generation=texts[row],
                       status=ParseStatus(int(parsed.status[row])).name,
                       parsed_action=int(parsed.actions[row]), invalid=bool(chosen.invalid[row]),
                       forced=forced_kind[row], prompt_ids=tokens[row][0],
                       answer_ids=tokens[row][1], sampled_logprobs=sampled_logprobs[row])
            for row in range(self.num_envs)])

    def observe(self, actions: np.ndarray, reward: np.ndarray, obs: Observation,
                info: Observation) -> None:
        record_step(self._prompter, self.env, actions, reward, info)

    # --- one step's pieces -------------------------------------------------------------

    def _chat(self, prompt: str) -> str:
        """The prompt as one user turn of the chat, with the generation prompt; under the
        answer-prefix protocol followed by 'ACTION=' for the model to complete."""
        chat = format_chat(self.tokenizer, [{"role": "user", "content": prompt}])
        return chat + ANSWER_PREFIX if self.prompt.answer_prefix else chat

    def _forced_actions(self, obs: Observation, legal: np.ndarray | None
                        ) -> tuple[np.ndarray, list[str]]:
        """int32[B] actions forced by try-all / epsilon-greedy (-1 where the model decides)."""
        streams = self._require_reset()
        forced = np.full(self.num_envs, -1, dtype=np.int32)
        kind = [""] * self.num_envs
        if self.exploration.try_all and "counts" in obs:
            untried = np.asarray(obs["counts"]) == 0
            for row in np.flatnonzero(untried.any(axis=1)):
                forced[row] = int(np.argmax(untried[row]))
                kind[row] = "try_all"
        if self.exploration.epsilon > 0:
            coins = streams.uniform()
            picks = streams.uniform()
            for row in np.flatnonzero((coins < self.exploration.epsilon) & (forced < 0)):
                allowed = np.flatnonzero(legal[row]) if legal is not None \
                    else np.arange(self.num_actions)
                if allowed.size:
                    forced[row] = int(allowed[int(picks[row] * allowed.size)])
                    kind[row] = "epsilon"
        return forced, kind

    def _ask_model(self, prompts: Sequence[str]
                   ) -> tuple[list[str], list[str], Generations | None]:
        """Answers for the rows the model decides: (final answer texts, chat-formatted prompts,
        the generations' token ids when each answer is one plain generation, else None)."""
        chats = [self._chat(p) for p in prompts]
        samples = self.exploration.self_consistency
        generated = self._generate([chat for chat in chats for _ in range(samples)])
        answers = generated.texts
        if samples == 1 and not self.exploration.self_correction:
            return answers, chats, generated
        if self.exploration.self_correction:
            followups = [
                format_chat(self.tokenizer, [
                    {"role": "user", "content": prompts[i // samples]},
                    {"role": "assistant", "content": answer},
                    {"role": "user", "content": SELF_CORRECTION_MESSAGE}])
                for i, answer in enumerate(answers)]
            answers = self._generate(followups).texts
        if samples == 1:
            return answers, chats, None
        return [self._majority(answers[i * samples:(i + 1) * samples])
                for i in range(len(prompts))], chats, None

    def _generate(self, chats: list[str]) -> Generations:
        assert self._encoder is not None
        self._calls += 1
        started = time.perf_counter()
        out = self.generator.generate(
            [self._encoder.encode(c) for c in chats], self.sampling,
            seed=int(np.random.SeedSequence([self._seed, self._calls]).generate_state(1)[0]))
        self.new_tokens += out.num_new_tokens
        self.generate_seconds += time.perf_counter() - started
        return out

    def _forced_tokens(self, chat: str, rationale: str) -> tuple[list[int], list[int]]:
        """Token ids of a forced step's prompt and template rationale (+ EOS), so that the
        trainer can learn from exploration steps like from generated ones."""
        assert self._encoder is not None
        answer_ids = self.tokenizer(rationale, add_special_tokens=False)["input_ids"]
        return self._encoder.encode(chat), answer_ids + [self.tokenizer.eos_token_id]

    def _majority(self, answers: list[str]) -> str:
        """The answer whose parsed label is the most frequent valid one (ties: first seen)."""
        assert self._parser is not None
        parsed = self._parser.parse(answers)
        valid = parsed.status == ParseStatus.OK
        if not valid.any():
            return answers[0]
        values, counts = np.unique(parsed.actions[valid], return_counts=True)
        winner = values[counts == counts.max()]
        first = next(i for i in range(len(answers)) if valid[i] and parsed.actions[i] in winner)
        return answers[first]

    def _parse(self, texts: list[str], batch: PromptBatch, legal: np.ndarray | None
               ) -> ParseResult:
        """Parsed env actions: label indices mapped back through any label shuffling."""
        assert self._parser is not None
        label_legal = None
        if legal is not None:  # legal mask over displayed labels
            label_legal = np.take_along_axis(legal, batch.action_of_label, axis=1)
        if self.prompt.answer_prefix:
            texts = [ANSWER_PREFIX + prefix_completion(text) for text in texts]
        parsed = self._parser.parse(texts, label_legal)
        return ParseResult(batch.env_actions(parsed.actions), parsed.status)
