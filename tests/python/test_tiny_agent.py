"""The tiny-agent preset: its recipe at toy size (deterministic, loadable), the shipped asset
against the recipe's current settings, and the pieces the recipe is made of."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rlft.agents import make_agent, run_episodes
from rlft.envs import make
from rlft.models import load_model_and_tokenizer
from rlft.models.tiny import (NUMBER_CODE, NUMBER_THRESHOLDS, TinyModelConfig, init_tiny_model,
                              number_columns, number_token_values, train_tiny_tokenizer)
from rlft.models.tiny_agent import ASSET_DIR, read_manifest, tiny_agent_path, weights_sha256
from rlft.sft.agent_recipe import (RecipeError, build_agent, corpus_digests, load_recipe,
                                   part_steps, recipe_from_dict)
from rlft.sft.experts import GreedyExpert, OnBehaviourStates
from rlft.text.prompts import PromptConfig, PromptStyle, greedy_thought_rationale
from rlft.trainer.warm_start import fit_answers

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "configs" / "tiny_agent.yaml"


def toy_recipe(steps: int = 10):
    values = yaml.safe_load(RECIPE.read_text())
    values["model"].update(hidden_size=32, intermediate_size=64, num_heads=4, vocab_size=600,
                           corpus_documents=50)
    values["training"].update(steps=steps, batch_size=4, threads=1, warmup_steps=2)
    return recipe_from_dict(values, "toy", ROOT)


def test_recipe_at_toy_size_is_deterministic_and_loads(tmp_path):
    first = build_agent(toy_recipe(), tmp_path / "a", log_every=0)
    second = build_agent(toy_recipe(), tmp_path / "b", log_every=0)
    assert first["weights_sha256"] == second["weights_sha256"] == weights_sha256(tmp_path / "a")
    assert first["corpus_digests"] == second["corpus_digests"]
    assert first["recipe"]["training"]["steps"] == 10 and first["commit"]
    lm, tokenizer = load_model_and_tokenizer(tmp_path / "a")
    assert sum(p.numel() for p in lm.parameters()) == first["parameters"]
    assert tiny_agent_path(tmp_path / "a") == tmp_path / "a"
    # The number code survives training: those columns are fixed features.
    code = lm.get_input_embeddings().weight[:, number_columns(toy_recipe().model)]
    assert torch.all((code == 0) | torch.isclose(code.abs(), torch.tensor(NUMBER_CODE)))


def test_shipped_asset_matches_the_recipe():
    """Fails when the recipe's settings, prompts, experts or behaviours change and the shipped
    model was not rebuilt (rlft build-agent)."""
    manifest = read_manifest()
    recipe = load_recipe(RECIPE)
    assert manifest["recipe"] == json.loads(json.dumps(recipe.settings())), \
        "configs/tiny_agent.yaml changed since the shipped tiny-agent was built"
    tokenizer = train_tiny_tokenizer(recipe.model)
    assert manifest["corpus_digests"] == corpus_digests(recipe, tokenizer), \
        "the recipe's examples (prompts, answers or players) changed since the shipped " \
        "tiny-agent was built"
    assert manifest["weights_sha256"] == weights_sha256(ASSET_DIR)
    size = sum(f.stat().st_size for f in ASSET_DIR.iterdir())
    assert size < 20 * 2**20


def test_damaged_asset_is_refused(tmp_path):
    copy = tmp_path / "agent"
    shutil.copytree(ASSET_DIR, copy)
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        tiny_agent_path(copy)
    with pytest.raises(FileNotFoundError, match="build-agent"):
        tiny_agent_path(tmp_path)


def test_preset_loads_by_name():
    lm, tokenizer = load_model_and_tokenizer("tiny-agent")
    assert lm.config.num_hidden_layers == read_manifest()["recipe"]["model"]["num_layers"]
    with pytest.raises(ValueError, match="no options"):
        from rlft.models.loading import resolve_model_path
        resolve_model_path("tiny-agent", preset_options={"num_layers": 3})


def test_bad_recipes_are_named():
    values = yaml.safe_load(RECIPE.read_text())
    for change, match in [({"training": {"steps": 0}}, "training.steps"),
                          ({"corpus": []}, "at least one part"),
                          ({"corpus": [{"config": "configs/none.yaml"}]}, "does not exist"),
                          ({"corpus": [{"config": "configs/cpu_default.yaml",
                                        "expert": "oracle"}]}, "expert"),
                          ({"model": {"number_embeddings": True, "whole_numbers": False}},
                           "whole_numbers"),
                          ({"colour": 1}, "unknown section")]:
        with pytest.raises(RecipeError, match=match):
            recipe_from_dict({**values, **change}, "changed", ROOT)


def test_steps_split_by_share():
    recipe = toy_recipe(steps=10)
    assert part_steps(recipe) == [8, 1, 1]


def test_number_embeddings_write_a_thermometer_code():
    config = TinyModelConfig(whole_numbers=True, number_embeddings=True, hidden_size=64,
                             intermediate_size=64, vocab_size=600, corpus_documents=50)
    tokenizer = train_tiny_tokenizer(config)
    weight = init_tiny_model(config, tokenizer).get_input_embeddings().weight.detach()
    values = number_token_values(tokenizer)
    by_text = {tokenizer.decode([i]).strip(): i for i in values}
    columns = number_columns(config)
    expected = [NUMBER_CODE if 0.3 >= t - 1e-9 else -NUMBER_CODE for t in NUMBER_THRESHOLDS]
    assert weight[by_text["0.3"], columns].tolist() == pytest.approx(expected)
    word = tokenizer("blue", add_special_tokens=False)["input_ids"][0]
    assert word not in values and torch.all(weight[word, columns] == 0)
    # A larger value reaches more thresholds.
    assert weight[by_text["0.7"], columns].sum() > weight[by_text["0.3"], columns].sum()


def test_fit_answers_keeps_frozen_columns():
    config = TinyModelConfig(hidden_size=32, intermediate_size=64, vocab_size=300,
                             corpus_documents=20)
    tokenizer = train_tiny_tokenizer(config)
    lm = init_tiny_model(config, tokenizer)
    before = lm.get_input_embeddings().weight.detach().clone()
    batch = ([[5, 6, 7, 8], [5, 6, 9]], [[10, 11, 3], [12, 3]])
    fit_answers(lm, tokenizer, [batch] * 3, steps=3, lr=1e-2, frozen=[0, 1])
    after = lm.get_input_embeddings().weight.detach()
    assert torch.equal(after[:, :2], before[:, :2]) and not torch.equal(after, before)


def test_greedy_labels_on_a_behaviours_states():
    """The played actions are the behaviour's (random here); each record is the greedy
    expert's answer for the state reached."""
    prompt = PromptConfig(style=PromptStyle.COMPACT, cot=True, history_window=0, summary=True,
                          reward_decimals=1)
    env = make("mab", num_envs=8, seed=3, num_arms=5, horizon=10, noise="low")
    player = OnBehaviourStates(GreedyExpert(env, prompt), make_agent("random"))
    rollout = run_episodes(env, player, seed=3)
    reference = run_episodes(env, make_agent("random"), seed=3)
    np.testing.assert_array_equal(rollout.actions, reference.actions)
    tried_counts = set()
    for row, step, record in rollout.records():
        actions = rollout.actions[row, :step]
        tried_counts.add(len(set(actions.tolist())))
        assert record.generation.startswith("Means:")
        assert record.generation.endswith(f"ACTION={record.label}")
    assert {2, 3, 4} <= tried_counts  # a random player tries many arms: comparisons are common


def test_greedy_rationale_compares_the_printed_means():
    # 0.64 and 0.55 both print as 0.6 with one decimal: a tie, the lowest index wins.
    text, action = greedy_thought_rationale(("a", "b"), [1, 1], [0.55, 0.64], 1)
    assert (text, action) == ("Means:\na 0.6\nb 0.6\nBest mean: a.\nACTION=a", 0)
