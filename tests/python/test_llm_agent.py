"""The LLM agent: the real tiny model end to end, and scripted answers for the exploration
mechanisms (whose effect must then be exact)."""

import copy

import numpy as np
import pytest

from rlft.agents import run_episodes
from rlft.agents.generation import SamplingConfig, generate
from rlft.agents.llm_agent import ExplorationConfig, LLMAgent
from rlft.envs import make
from rlft.text.prompts import PromptConfig


class ScriptedLLMAgent(LLMAgent):
    """LLMAgent whose model answers are given by `answer(prompt_text) -> str`."""

    def __init__(self, env, answer, **kwargs):
        super().__init__(model=None, tokenizer=None, env=env, **kwargs)
        self.answer = answer
        self.prompts_seen = []

    def _ask_model(self, prompts):
        self.prompts_seen.extend(prompts)
        return [self.answer(p) for p in prompts], list(prompts), None


def _records(rollout):
    return [record for _, _, record in rollout.records()]


def test_tiny_model_plays_a_bandit_end_to_end(tiny_model):
    model, tokenizer = tiny_model
    env = make("mab", num_envs=4, seed=0, num_arms=5, horizon=3)
    agent = LLMAgent(model, tokenizer, env, sampling=SamplingConfig(max_new_tokens=8))
    rollout = run_episodes(env, agent, num_episodes=1, seed=0)
    assert rollout.actions.shape == (4, 3)
    assert ((rollout.actions >= 0) & (rollout.actions < 5)).all()
    records = _records(rollout)
    assert len(records) == 12
    assert records[0].prompt.startswith("<|im_start|>user\nYou are a bandit algorithm")
    # A random-init model writes no ACTION=: every step is flagged and a random arm played.
    assert all(r.invalid == (r.status != "OK") for r in records)
    assert agent.new_tokens > 0


def test_model_without_chat_template_plays_through_the_plain_text_format(tiny_model):
    model, tokenizer = tiny_model
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None  # as a base model's tokenizer
    env = make("mab", num_envs=2, seed=0, num_arms=5, horizon=2)
    agent = LLMAgent(model, plain, env, sampling=SamplingConfig(max_new_tokens=4))
    rollout = run_episodes(env, agent, num_episodes=1, seed=0)
    assert ((rollout.actions >= 0) & (rollout.actions < 5)).all()
    prompt = rollout.steps[0][0].prompt
    assert prompt.startswith("Q: You are a bandit algorithm") and prompt.endswith("?\nA:")
    assert "<|im_start|>" not in prompt


def test_greedy_generation_is_deterministic_and_batch_independent(tiny_model):
    model, tokenizer = tiny_model
    prompts = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in
               ["Step=0 Action=blue Reward=0.50\nACTION=", "What do you predict next?"]]
    sampling = SamplingConfig(max_new_tokens=6, batch_size=2)
    together = generate(model, tokenizer, prompts, sampling)
    alone = generate(model, tokenizer, prompts[1:], SamplingConfig(max_new_tokens=6))
    assert together.token_ids[1] == alone.token_ids[0]
    assert together.texts == generate(model, tokenizer, prompts, sampling).texts


def test_valid_answers_are_executed():
    env = make("mab", num_envs=3, seed=1, num_arms=5, horizon=4)
    agent = ScriptedLLMAgent(env, lambda prompt: "I think red is best. ACTION=red")
    rollout = run_episodes(env, agent, seed=0)
    assert (rollout.actions == 2).all()  # red is the third button label
    assert not rollout.invalid.any()


def test_unparsable_answer_plays_random_arm_and_is_flagged():
    env = make("mab", num_envs=16, seed=1, num_arms=5, horizon=2)
    agent = ScriptedLLMAgent(env, lambda prompt: "I am not sure.")
    rollout = run_episodes(env, agent, seed=0)
    records = _records(rollout)
    assert all(r.invalid and r.status == "NO_MATCH" for r in records)
    assert rollout.invalid.all() and len(set(rollout.actions.ravel().tolist())) > 1


def test_try_all_forces_every_untried_arm_first():
    env = make("mab", num_envs=2, seed=1, num_arms=4, horizon=6)
    agent = ScriptedLLMAgent(env, lambda prompt: "ACTION=blue",
                             exploration=ExplorationConfig(try_all=True))
    rollout = run_episodes(env, agent, seed=0)
    assert rollout.actions[:, :4].tolist() == [[0, 1, 2, 3]] * 2
    assert (rollout.actions[:, 4:] == 0).all()
    forced = [r for r in _records(rollout) if r.forced == "try_all"]
    assert len(forced) == 8
    assert forced[2].generation.startswith("Action green has not been tried yet")


def test_epsilon_one_always_explores_with_template_rationale():
    env = make("mab", num_envs=8, seed=1, num_arms=5, horizon=3)
    agent = ScriptedLLMAgent(env, lambda prompt: "ACTION=blue",
                             exploration=ExplorationConfig(epsilon=1.0))
    records = _records(run_episodes(env, agent, seed=0))
    assert len(records) == 24
    assert all(r.forced == "epsilon" and not r.invalid for r in records)
    assert not agent.prompts_seen  # the model was never asked


class ScriptedGenerator:
    """A generation engine behind the agent's interface whose answer to the i-th prompt of a
    generate() call is `answer(prompt_text, i)`: the agent's own sampling, grouping, voting
    and second turns run on it unchanged. Keeps every call's prompt texts."""

    def __init__(self, tokenizer, answer):
        self.tokenizer, self.answer, self.calls = tokenizer, answer, []

    def start_rollout(self, prefix_ids):
        pass

    def generate(self, prompts, sampling, seed):
        from rlft.agents.generation import Generations

        texts = [self.tokenizer.decode(p) for p in prompts]
        self.calls.append(texts)
        answers = [self.answer(text, i) for i, text in enumerate(texts)]
        ids = [self.tokenizer(a, add_special_tokens=False)["input_ids"] for a in answers]
        return Generations(texts=answers, prompt_ids=[list(p) for p in prompts], token_ids=ids)


def test_self_consistency_majority_vote(tiny_model):
    """Each row's prompt is sampled 4 times in one call (its samples side by side) and the
    most frequent valid label wins: row 0 votes red, green, green, unparsable -> green; row 1
    votes blue, red, blue, green -> blue."""
    _, tokenizer = tiny_model
    votes = ["ACTION=red", "ACTION=green", "ACTION=green", "nothing",
             "ACTION=blue", "ACTION=red", "ACTION=blue", "ACTION=green"]
    engine = ScriptedGenerator(tokenizer, lambda text, i: votes[i])
    env = make("mab", num_envs=2, seed=1, num_arms=5, horizon=2)
    agent = LLMAgent(None, tokenizer, env, sampling=SamplingConfig(temperature=1.0),
                     exploration=ExplorationConfig(self_consistency=4), generator=engine)
    rollout = run_episodes(env, agent, seed=0)
    assert rollout.actions.tolist() == [[1, 1], [0, 0]]  # blue, green, red are labels 0-2
    assert not rollout.invalid.any()
    assert [len(call) for call in engine.calls] == [8, 8]  # one call per step
    for call in engine.calls:  # each row's prompt four times in a row
        assert call[:4] == [call[0]] * 4 and call[4:] == [call[4]] * 4
    assert [r.generation for r in _records(rollout)] == ["ACTION=green", "ACTION=blue"] * 2


@pytest.mark.parametrize("template", [True, False])
def test_self_correction_executes_the_second_answer(tiny_model, template):
    """The second turn shows the model its first answer and the request to check it, in the
    chat format (or the plain-text Q:/A: one); the second answer is the one executed."""
    from rlft.text.templates import SELF_CORRECTION_MESSAGE

    _, tokenizer = tiny_model
    if not template:
        tokenizer = copy.deepcopy(tokenizer)
        tokenizer.chat_template = None  # as a base model's tokenizer
    engine = ScriptedGenerator(tokenizer, lambda text, i: "ACTION=green"
                               if SELF_CORRECTION_MESSAGE in text else f"ACTION=red {i}")
    env = make("mab", num_envs=2, seed=1, num_arms=5, horizon=2)
    agent = LLMAgent(None, tokenizer, env, generator=engine,
                     exploration=ExplorationConfig(self_correction=True))
    rollout = run_episodes(env, agent, seed=0)
    assert (rollout.actions == 1).all() and not rollout.invalid.any()
    assert [len(call) for call in engine.calls] == [2, 2, 2, 2]  # per step: first, second turn
    start = "<|im_start|>user\nYou are a bandit" if template else "Q: You are a bandit"
    for first, second in zip(engine.calls[0::2], engine.calls[1::2]):
        for row in range(2):
            assert first[row].startswith(start) and SELF_CORRECTION_MESSAGE not in first[row]
            # One chat: this row's prompt, its own first answer, then the request.
            assert second[row].startswith(start)
            answer = second[row].index(f"ACTION=red {row}")
            assert second[row].index("What do you predict next") < answer \
                < second[row].index(SELF_CORRECTION_MESSAGE)
    assert all(r.generation == "ACTION=green" for r in _records(rollout))


def test_self_consistency_needs_sampling():
    env = make("mab", num_envs=2, seed=1, num_arms=5)
    with pytest.raises(ValueError, match="temperature"):
        LLMAgent(None, None, env, exploration=ExplorationConfig(self_consistency=3))


def test_context_randomisation_maps_labels_back():
    """The model always answers with the label shown first in its prompt; under shuffling the
    executed arms must be the env actions behind those labels, hence varied."""
    env = make("mab", num_envs=4, seed=1, num_arms=5, horizon=5)

    def first_label(prompt):
        listed = prompt.split("labeled ", 1)[1].split(".", 1)[0].split(", ")
        return f"ACTION={listed[0]}"

    agent = ScriptedLLMAgent(env, first_label, prompt=PromptConfig(randomise_labels=True))
    rollout = run_episodes(env, agent, seed=0)
    assert not rollout.invalid.any()
    plain = ScriptedLLMAgent(env, first_label)
    assert (run_episodes(env, plain, seed=0).actions == 0).all()


def test_tic_tac_toe_occupied_cell_is_an_illegal_answer():
    env = make("tictactoe", num_envs=4, seed=0, opponent="random")
    agent = ScriptedLLMAgent(env, lambda prompt: "ACTION=4")
    rollout = run_episodes(env, agent, seed=0)
    records = rollout.records()  # (game, move, record) of the moves inside the first game
    first_moves = [(row, r) for row, step, r in records if step == 0]
    assert len(first_moves) == 4
    assert all(r.status == "OK" and rollout.actions[row, 0] == 4 for row, r in first_moves)
    later = [(row, step, r) for row, step, r in records if step > 0]
    assert later and all(r.status == "ILLEGAL" and r.invalid and rollout.actions[row, step] != 4
                         for row, step, r in later)
    # Invalid exactly where the answer was: the random fallback is legal, the env flags nothing.
    assert [bool(rollout.invalid[row, step]) for row, step, _ in records] == \
        [r.invalid for _, _, r in records]


def test_prompts_share_the_rollout_prefix_and_answers_match_plain_generate(tiny_model):
    """Every recorded prompt starts with the chat header + instructions tokenised once, that
    prefix is run once per rollout, and the greedy answers are plain generate()'s."""
    import torch

    from rlft.agents.llm_agent import make_prompter
    from rlft.text.chat import format_chat, shared_chat_prefix

    model, tokenizer = tiny_model
    env = make("mab", num_envs=5, seed=0, num_arms=5, horizon=3)
    agent = LLMAgent(model, tokenizer, env, sampling=SamplingConfig(max_new_tokens=6,
                                                                    batch_size=2))
    prompter = make_prompter(env, PromptConfig(), 5, 0)
    prefix = tokenizer(shared_chat_prefix(tokenizer, prompter.shared_text()),
                       add_special_tokens=False)["input_ids"]
    shapes = []
    handle = model.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True)
    obs, info = env.reset(seed=0)
    agent.reset(5, env.num_actions, seed=0)
    recorded = []
    for _ in range(3):
        batch_texts = prompter.render(obs, info).texts
        decision = agent.act(obs, info)
        actions = decision.actions
        recorded.extend((text, (r.prompt_ids, r.answer_ids))
                        for text, r in zip(batch_texts, decision.steps))
        obs, reward, terminated, truncated, info = env.step(actions)
        agent.observe(actions, reward, obs, info)
        prompter.record(np.asarray(info.get("executed_action", actions)), reward, terminated,
                        truncated)
    handle.remove()
    assert shapes.count((1, len(prefix))) == 1  # once for the whole rollout
    for text, (prompt_ids, answer_ids) in recorded:
        assert prompt_ids[:len(prefix)] == prefix
        # The split sits where this tokenizer starts a pre-token: the same ids as the whole.
        chat = format_chat(tokenizer, [{"role": "user", "content": text}])
        assert prompt_ids == tokenizer(chat, add_special_tokens=False)["input_ids"]
        plain = model.generate(input_ids=torch.tensor([prompt_ids]), max_new_tokens=6,
                               do_sample=False, pad_token_id=tokenizer.pad_token_id)
        plain = plain[0, len(prompt_ids):].tolist()
        if tokenizer.eos_token_id in plain:
            plain = plain[:plain.index(tokenizer.eos_token_id) + 1]
        assert answer_ids == plain


class FixedAnswerGenerator:
    """A generation engine behind the agent's interface (as a serving engine would be): it
    answers every prompt with the same token ids and reports what it was given."""

    def __init__(self, answer_ids, text):
        self.answer_ids, self.text, self.prefixes, self.prompts = answer_ids, text, [], []

    def start_rollout(self, prefix_ids):
        self.prefixes.append(list(prefix_ids))

    def generate(self, prompts, sampling, seed):
        from rlft.agents.generation import Generations

        self.prompts.extend(prompts)
        return Generations(texts=[self.text] * len(prompts),
                           prompt_ids=[list(p) for p in prompts],
                           token_ids=[list(self.answer_ids) for _ in prompts])


@pytest.mark.parametrize("completion, action", [
    ("green\nB:ACTION=red", 1),                    # the label, then made-up turns
    ("X\nStep=1 Action=green Reward=0.50", -1),    # the placeholder, then a made-up history line
    ("\nStep=1 Action=green Reward=0.50", -1),     # no label at all
])
def test_answer_prefix_reads_the_first_line_only(tiny_model, completion, action):
    """Under the answer-prefix protocol the answer is the completion's first line: the paper's
    last-match parse of the whole text would read a made-up history line as the choice."""
    _, tokenizer = tiny_model
    engine = FixedAnswerGenerator(tokenizer(completion, add_special_tokens=False)["input_ids"],
                                  completion)
    env = make("mab", num_envs=2, seed=0, num_arms=5, horizon=1)
    agent = LLMAgent(None, tokenizer, env, PromptConfig(cot=False, answer_prefix=True),
                     generator=engine)
    rollout = run_episodes(env, agent, seed=0)
    assert bool(rollout.invalid.all()) == (action < 0)
    if action >= 0:
        assert (rollout.actions == action).all()
    # The paper's whole-text parse of the same text reads 'Action=green' / 'ACTION=red'.
    plain = LLMAgent(None, tokenizer, env, PromptConfig(cot=False), generator=engine)
    assert not run_episodes(env, plain, seed=0).invalid.any()


def test_any_generation_engine_behind_the_interface(tiny_model):
    model, tokenizer = tiny_model
    answer = tokenizer("ACTION=green", add_special_tokens=False)["input_ids"]
    engine = FixedAnswerGenerator(answer + [tokenizer.eos_token_id], "ACTION=green")
    env = make("mab", num_envs=3, seed=0, num_arms=5, horizon=2)
    agent = LLMAgent(None, tokenizer, env, generator=engine)
    rollout = run_episodes(env, agent, num_episodes=2, seed=0)
    assert (rollout.actions == 1).all() and not rollout.invalid.any()  # green is label 1
    assert len(engine.prefixes) == 2 and engine.prefixes[0]  # once per rollout, not empty
    records = _records(rollout)
    assert all(r.prompt_ids[:len(engine.prefixes[0])] == engine.prefixes[0] for r in records)
    assert all(r.answer_ids == answer + [tokenizer.eos_token_id] for r in records)
    assert sorted(map(tuple, (r.prompt_ids for r in records))) == sorted(map(tuple, engine.prompts))


def test_answer_prefix_protocol_completes_the_label(tiny_model):
    model, tokenizer = tiny_model
    label = tokenizer("green", add_special_tokens=False)["input_ids"]
    engine = FixedAnswerGenerator(label + [tokenizer.eos_token_id], "green")
    env = make("mab", num_envs=2, seed=0, num_arms=5, horizon=2)
    prompt = PromptConfig(cot=False, answer_prefix=True)
    rollout = run_episodes(env, LLMAgent(None, tokenizer, env, prompt, generator=engine), seed=0)
    records = _records(rollout)
    assert (rollout.actions == 1).all() and not rollout.invalid.any()
    assert all(r.prompt.endswith("<|im_start|>assistant\nACTION=") for r in records)
    assert all(r.generation == "green" and r.status == "OK" for r in records)
    # The prefix is prompt, not answer: its tokens end every prompt's ids.
    prefix = tokenizer("ACTION=", add_special_tokens=False)["input_ids"]
    assert all(r.prompt_ids[-len(prefix):] == prefix for r in records)
    with pytest.raises(ValueError, match="answer_prefix .* needs cot=False"):
        PromptConfig(answer_prefix=True)
