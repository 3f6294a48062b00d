"""Trainer pieces that need no DeepSpeed: config loading and its errors, token batching and
teacher-forced log-probs, the LR schedule."""

import json
import math
from pathlib import Path

import pytest
import torch

from rlft.trainer.config import ConfigError, load_config, parse_override
from rlft.trainer.engine import find_config_file, lr_lambda
from rlft.trainer.policy import PolicyWithValue, answer_logprobs, collate


CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RECIPES = {"tiny_agent.yaml"}  # model recipes (rlft build-agent), not training configs


def test_default_config_file_loads():
    config = load_config(find_config_file("cpu_default.yaml"))
    assert config.model.name == "tiny-agent" and config.prompt.cot and config.prompt.summary


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")
                                        if p.name not in RECIPES))
def test_every_shipped_config_validates(name):
    """Every training config in configs/ loads for its world size and writes its runs under
    runs/<its own name>, so that two setups never share a run directory."""
    world = 8 if "8gpu" in name else 1
    config = load_config(CONFIGS / name, world_size=world)
    assert config.run.out_dir == f"runs/{name.removesuffix('.yaml')}"


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_shipped_recipe_loads(name):
    from rlft.sft.agent_recipe import load_recipe

    assert load_recipe(CONFIGS / name).corpus


@pytest.mark.parametrize("override, message", [
    ("optim.lrr=1", "unknown key optim.lrr"),
    ("optimizer.lr=1", "unknown section 'optimizer'"),
    ("optim.lr=fast", "optim.lr must be float"),
    ("rollout.num_envs=2.5", "rollout.num_envs must be int"),
    ("optim.batch_size=12", "multiple of optim.micro_batch_size"),
    ("env.name=chess", "env.name must be one of"),
    ("algo.kl_estimator=k9", "algo.kl_estimator must be one of"),
    ("rollout.temperature=0", "rollout.temperature must be > 0"),
    ("lr=3", "must look like section.key=value"),
    ("prompt.reward_decimals=9", "prompt.reward_decimals must be an int in"),
    ("prompt.style=terse", r"prompt.style must be one of \['full', 'compact', 'observation'\]"),
    ("prompt.history_window=0", "prompt.history_window=0 shows nothing"),
    ("optim.adam_betas=[0.9]", r"optim.adam_betas must be two numbers in \[0, 1\)"),
    ("optim.adam_betas=[0.9,1.0]", r"optim.adam_betas must be two numbers"),
    ("optim.adam_betas=[0.9,high]", "optim.adam_betas must be float"),
    ("prompt.style=observation", "prompt.style 'observation' shows only the per-arm summary"),
    ("eval.episodes=257", r"eval.episodes x eval.seeds \(257 distinct instances\) exceeds"),
    ("eval.seeds=5", r"eval.episodes x eval.seeds \(320 distinct instances\) exceeds"),
    ("algo.kl_estimator=k1", "k1 has zero expected gradient as a loss term"),
    ("algo.kl_mode=penalty", "algo.kl_mode must be one of"),
    ("env.num_arms=1", "env.num_arms must be"),
    ("env.num_arms=41", "prompt.variant / env.num_arms: the button variant has 40"),
    ("env.noise=loud", "env.noise must be one of"),
    ("env.data_dir=/no/such/dir", "env.data_dir '/no/such/dir' is not a directory"),
    ("run.resume=false", "run.resume must be str"),
    ("run.resume=maybe", "run.resume must be one of"),
    ("model.tiny_whole_numbers=3", "model.tiny_whole_numbers must be bool"),
    ("warm_start.expert=ucb", "warm_start.expert must be one of"),
    ("warm_start.epsilon=1.5", r"warm_start.epsilon must be in \[0, 1\]"),
    ("eval.analyses=[regret]", "eval.analyses entries must be among"),
    ("algo.group_size=0", "algo.group_size must be >= 1"),
    ("algo.group_size=5", r"rollout.num_envs \(16\) must be a multiple of algo.group_size"),
])
def test_bad_overrides_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_tiny_settings_rejected_for_other_models():
    with pytest.raises(ConfigError, match="model.tiny_whole_numbers applies to the tiny preset only"):
        load_config(None, ["model.name=smollm2-135m", "model.tiny_whole_numbers=true"])
    with pytest.raises(ConfigError, match="model.tiny_layers applies to the tiny preset only"):
        load_config(None, ["model.name=some/hub-model", "model.tiny_layers=4"])
    assert load_config(None, ["model.tiny_whole_numbers=true"]).model.tiny_whole_numbers


def test_bandit_only_prompt_options_rejected_for_tictactoe():
    with pytest.raises(ConfigError, match="prompt.style='compact' applies to the multi-armed "
                                          "bandit only, not to tictactoe"):
        load_config(None, ["env.name=tictactoe", "algo.advantage=gae", "prompt.style=compact"])
    assert load_config(None, ["prompt.style=compact"]).prompt.style.value == "compact"


def test_impossible_batch_arithmetic():
    with pytest.raises(ConfigError, match="larger than one rollout"):
        load_config(None, ["rollout.num_envs=2", "env.horizon=3", "optim.batch_size=8",
                           "optim.micro_batch_size=8"])


def test_yaml_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 1e-3\n  momentum: 0.9\n")
    with pytest.raises(ConfigError, match="unknown key optim.momentum"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    good = tmp_path / "good.yaml"
    good.write_text("optim:\n  lr: 3e-4\nenv:\n  num_arms: 10\n")
    config = load_config(good, ["env.num_arms=20"])
    assert config.optim.lr == 3e-4 and config.env.num_arms == 20


def test_parse_override_values():
    assert parse_override("eval.baselines=[random]") == ("eval", "baselines", ["random"])
    assert parse_override("env.history_window=null") == ("env", "history_window", None)


def test_lr_schedule_warmup_then_cosine():
    config = load_config(None, ["optim.lr=1.0", "optim.min_lr=0.1", "optim.warmup_steps=4"])
    factor = lr_lambda(config, total_steps=14)
    assert [factor(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert factor(9) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert factor(14) == pytest.approx(0.1)
    assert factor(100) == pytest.approx(0.1)


def test_answer_logprobs_match_unpadded_forward(tiny_model):
    """Batched, padded teacher forcing gives each answer token the log-prob that an unpadded
    forward pass of that one sequence gives it."""
    model, tokenizer = tiny_model
    prompts = [tokenizer("What do you predict next?")["input_ids"],
               tokenizer("Step=0 Action=blue Reward=0.50\nStep=1 Action=red Reward=1.25\n"
                         "What do you predict next?")["input_ids"]]
    answers = [tokenizer("ACTION=red")["input_ids"], tokenizer("ACTION=blue now")["input_ids"]]
    policy = PolicyWithValue(model, value_head=True)
    batch = collate(prompts, answers, tokenizer.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        logp, entropy, values = answer_logprobs(policy, batch, with_entropy=True)
        for row, (prompt, answer) in enumerate(zip(prompts, answers)):
            ids = torch.tensor([prompt + answer])
            logits = model(input_ids=ids).logits[0]
            expected = torch.log_softmax(logits[len(prompt) - 1:-1], dim=-1)
            expected = expected.gather(-1, torch.tensor(answer)[:, None]).squeeze(-1)
            assert torch.allclose(logp[row, :len(answer)], expected, atol=1e-5)
    assert batch.answer_mask.sum(dim=1).tolist() == [len(a) for a in answers]
    assert values.shape == (2,) and torch.all(values == 0)  # zero-initialised head
    assert torch.all(entropy[batch.answer_mask.bool()] > 0)


def test_optimizer_takes_the_configured_betas():
    from rlft.trainer.engine import make_optimizer

    config = load_config(None, ["optim.adam_betas=[0.9, 0.95]"])
    optimizer = make_optimizer(config, [torch.nn.Parameter(torch.zeros(2))])
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.95)


def _dropout_models():
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2,
                                      n_head=2, resid_pdrop=0.1, embd_pdrop=0.1,
                                      attn_pdrop=0.1))
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2,
                                         num_key_value_heads=2, attention_dropout=0.1))
    return [gpt2, llama]


@pytest.mark.parametrize("index", [0, 1])
def test_disable_dropout_makes_training_mode_deterministic(index):
    from rlft.trainer.engine import disable_dropout

    model = _dropout_models()[index]
    ids = torch.randint(0, 64, (2, 12))
    model.train()
    assert not torch.equal(model(ids).logits, model(ids).logits)  # dropout is live
    assert disable_dropout(model) > 0
    training = model(ids).logits
    assert training.requires_grad  # gradients kept
    model.eval()
    assert torch.equal(training, model(ids).logits)
    assert all(value == 0.0 for key, value in model.config.to_dict().items()
               if isinstance(value, float) and ("dropout" in key or key.endswith("pdrop")))


def _saved_run(tmp_path, overrides):
    """A run directory as a run with `overrides` leaves it: config.json and a checkpoint."""
    import json

    out = tmp_path / "run"
    (out / "checkpoints" / "iter_000003").mkdir(parents=True)
    (out / "checkpoints" / "iter_000003" / "rlft_state.json").write_text("{}")
    (out / "checkpoints" / "latest").write_text("iter_000003")
    (out / "config.json").write_text(json.dumps(load_config(None, overrides).to_dict()))
    return out


def test_resume_only_a_run_with_the_same_config(tmp_path):
    from rlft.trainer.checkpoint import checkpoint_to_resume

    out = _saved_run(tmp_path, ["optim.lr=0.001", "run.iterations=5"])
    same = load_config(None, ["optim.lr=0.001", "run.iterations=9", "run.progress=false"])
    assert checkpoint_to_resume(same, out) == "iter_000003"  # longer: a resume
    other = load_config(None, ["optim.lr=0.002", "env.num_arms=4"])
    with pytest.raises(ConfigError, match=r"env.num_arms \(saved 5, now 4\), optim.lr \(saved "
                                          r"0.001, now 0.002\)"):
        checkpoint_to_resume(other, out)
    assert checkpoint_to_resume(load_config(None, ["optim.lr=0.002", "run.resume=force"]),
                                out) == "iter_000003"
    assert checkpoint_to_resume(load_config(None, ["run.resume=never"]), out) is None
    assert checkpoint_to_resume(other, tmp_path / "fresh") is None


def test_resume_ignores_saved_fields_the_config_no_longer_has(tmp_path):
    from rlft.trainer.checkpoint import checkpoint_to_resume

    out = _saved_run(tmp_path, [])
    saved = json.loads((out / "config.json").read_text())
    saved["algo"]["retired_option"] = 0.5  # a field of an older rlft
    (out / "config.json").write_text(json.dumps(saved))
    assert checkpoint_to_resume(load_config(None, []), out) == "iter_000003"


def test_tensorboard_resume_drops_the_replayed_steps(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rlft.trainer.run_log import RunLog

    first = RunLog(tmp_path, True, True, False, {}, start_iteration=0)
    for iteration in range(3):
        first.log(iteration, {"env/regret": float(iteration)})
    first.close()
    resumed = RunLog(tmp_path, True, True, False, {}, start_iteration=1)  # from checkpoint 1
    for iteration in range(1, 3):
        resumed.log(iteration, {"env/regret": 10.0 + iteration})
    resumed.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    scalars = events.Scalars("env/regret")
    assert [(e.step, e.value) for e in scalars] == [(0, 0.0), (1, 11.0), (2, 12.0)]
    assert [json.loads(line)["iteration"] for line in
            (tmp_path / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2]
    assert first._wandb_id() == resumed._wandb_id()  # one wandb run for the directory


def test_config_pairs_that_cannot_work_together():
    for overrides, message in (
            (["env.name=tictactoe", "algo.advantage=gae", "warm_start.expert=greedy"],
             "warm_start.expert=greedy reads a multi-armed bandit"),
            (["prompt.randomise_labels=true", "warm_start.expert=greedy"],
             "prompt.randomise_labels=false"),
            (["eval.analyses=[greediness]", "run.export=false"], "run.export=true"),
            (["algo.group_size=4", "algo.advantage=gae"], "algo.advantage=mc"),
            (["--config", "configs/cpu_regret.yaml", "eval.analyses=[knowing_doing]"],
             "knowing_doing plays the UCB-instructed version")):
        config_file = None
        if overrides[0] == "--config":
            config_file, overrides = find_config_file(overrides[1].split("/")[-1]), overrides[2:]
        with pytest.raises(ConfigError, match=message):
            load_config(config_file, overrides)


def test_grouped_instances_give_every_row_of_a_group_one_instance():
    from rlft.trainer.evaluate import make_env
    from rlft.trainer.loop import grouped_instances

    config = load_config(None, ["algo.group_size=4", "rollout.num_envs=8"])
    env = make_env(config, 8, 1, "train")
    assert grouped_instances(load_config(None, []), env, 3) is None
    options = grouped_instances(config, env, 3)
    assert (options["task_ids"] == grouped_instances(config, env, 3)["task_ids"]).all()  # seeded
    ids = options["task_ids"]
    assert ids.shape == (8,) and len(set(ids[:4])) == 1 and len(set(ids[4:])) == 1
    assert set(ids) <= set(env.train_task_ids().tolist())
    _, info = env.reset(seed=1, options=options)
    means = info["arm_means"]
    assert (means[:4] == means[0]).all() and (means[4:] == means[4]).all()



def test_a_warm_start_larger_than_the_free_device_memory_is_refused():
    from rlft.trainer.loop import check_warm_start_fits
    from rlft.trainer.warm_start import training_bytes

    layer = torch.nn.Linear(8, 4).to(torch.bfloat16)
    # Weights, gradients and AdamW's two moments, 2 bytes each.
    assert training_bytes(layer) == 4 * 2 * (8 * 4 + 4)
    check_warm_start_fits(80, 100)
    with pytest.raises(ConfigError, match="warm_start.steps: .* run.mode=sft"):
        check_warm_start_fits(95, 100)


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_bf16_gradients_accumulate_in_fp32(stage):
    from rlft.trainer.engine import World, deepspeed_config

    world = World(rank=0, local_rank=0, size=1, device=torch.device("cpu"))
    config = load_config(None, [f"engine.zero_stage={stage}", "optim.batch_size=16",
                                "optim.micro_batch_size=1"])
    assert "data_types" not in deepspeed_config(config, world, bf16=False)
    if stage == 0:  # DeepSpeed accumulates in fp32 only under ZeRO
        with pytest.raises(ConfigError, match="engine.zero_stage=0 in bf16 .* 16 micro"):
            deepspeed_config(config, world, bf16=True)
        single = load_config(None, ["optim.batch_size=1", "optim.micro_batch_size=1"])
        assert "data_types" not in deepspeed_config(single, world, bf16=True)
    else:
        assert deepspeed_config(config, world, bf16=True)["data_types"] == {
            "grad_accum_dtype": "fp32"}


def test_adafactor_is_refused_where_deepspeed_flattens_its_parameters():
    from rlft.trainer.engine import World, deepspeed_config

    world = World(rank=0, local_rank=0, size=1, device=torch.device("cpu"))
    plain = load_config(None, ["optim.optimizer=adafactor"])
    deepspeed_config(plain, world, bf16=False)  # whole matrices: as the paper's
    for overrides, bf16 in ((["engine.zero_stage=2"], False), ([], True)):
        config = load_config(None, ["optim.optimizer=adafactor", "optim.batch_size=8",
                                    *overrides])
        with pytest.raises(ConfigError, match="flat 1-D shards"):
            deepspeed_config(config, world, bf16=bf16)


def test_the_time_limit_stops_before_an_iteration_that_would_overrun_it():
    import time

    from rlft.trainer.engine import World, out_of_time

    world = World(rank=0, local_rank=0, size=1, device=torch.device("cpu"))
    started = time.perf_counter() - 5.0  # 5 s of training so far
    assert not out_of_time(10.0, started, 4.0, world)
    assert out_of_time(10.0, started, 6.0, world)  # the next one would end at about 11 s
    assert not out_of_time(0.0, started, 60.0, world)
