"""The RLFT training loop, top to bottom: config -> world -> model (+ warm start) -> engine and
reference -> [rollout -> rewards -> advantages -> log-probs -> PPO+KL updates -> log ->
checkpoint] x iterations -> held-out comparison and export."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from rlft.agents.generation import SamplingConfig
from rlft.agents.llm_agent import ExplorationConfig, LLMAgent
from rlft.trainer import advantages as adv
from rlft.trainer.checkpoint import checkpoint_to_resume, load_checkpoint, save_checkpoint
from rlft.trainer.config import BANDITS, ConfigError, TrainConfig, preset_options, validate
from rlft.trainer.engine import (Reference, World, agree_any, broadcast_from_main, build_engine,
                                 deepspeed_config, disable_dropout, gather_rows,
                                 gathered_for_generation, init_world, out_of_time,
                                 reduce_metrics, use_bf16)
from rlft.trainer.evaluate import evaluate_policy, finish_run, make_env, save_results
from rlft.trainer.losses import kl_reward_estimate, ppo_kl_loss, value_loss
from rlft.trainer.policy import TokenBatch, answer_logprobs, collate
from rlft.trainer.policy_analyses import analyse_start_and_final
from rlft.trainer.provenance import write_run_end, write_run_start
from rlft.trainer.rewards import RewardScaler, shaped_reward
from rlft.trainer.rollout import Transition, collect, samples_of, step_grid
from rlft.trainer.run_log import RunLog
from rlft.trainer.warm_start import (configured_warm_start, load_warm_start, save_warm_start,
                                     training_bytes)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def load_policy_model(config: TrainConfig, world: World) -> tuple[Any, Any]:
    """The model and tokenizer on every rank. A preset is built (or converted) by rank 0 alone
    first: save_pretrained writes nothing on other ranks of a distributed run."""
    from rlft.models import load_model_and_tokenizer, resolve_model_path

    options = preset_options(config)
    try:
        if world.is_main:
            resolve_model_path(config.model.name, preset_options=options)
        if world.size > 1:
            torch.distributed.barrier()
        # bf16 weights where the engine trains in bf16; under ZeRO-3 the full model is built
        # on the CPU and deepspeed.initialize moves only each rank's shard to its device.
        dtype = torch.bfloat16 if use_bf16(config, world) else torch.float32
        device = "cpu" if config.engine.zero_stage == 3 else str(world.device)
        lm, tokenizer = load_model_and_tokenizer(config.model.name, preset_options=options,
                                                 dtype=dtype, device=device)
    except (OSError, ValueError) as error:
        raise ConfigError(f"model.name {config.model.name!r}: {error}") from error
    return lm, tokenizer


def warm_start(config: TrainConfig, lm: Any, tokenizer: Any, world: World, directory: Path,
               resuming: bool) -> None:
    """The warm start, saved to `directory`; a resumed run loads it back instead,
    since the reference policy is built from `lm` before the checkpoint is loaded."""
    if resuming:
        load_warm_start(lm, directory)
        return
    env = make_env(config, min(64, config.rollout.num_envs), _seed(config.run.seed, 1), "train")
    # Under ZeRO-3 the model was loaded on the CPU for deepspeed.initialize to shard; the warm
    # start trains it whole on the rank's device, then hands it back where it was.
    home = next(lm.parameters()).device
    if world.device.type == "cuda":
        resident = sum(p.numel() * p.element_size() for p in lm.parameters()) \
            if home == world.device else 0  # ZeRO 0-2 loaded the weights there already
        check_warm_start_fits(training_bytes(lm) - resident,
                              torch.cuda.mem_get_info(world.device)[0])
    lm.to(world.device)
    losses = configured_warm_start(config, lm, tokenizer, env, world.device)
    lm.to(home)
    if world.is_main:
        save_warm_start(lm, tokenizer, directory)
        print(f"warm start ({config.warm_start.expert}): {len(losses)} steps, loss "
              f"{losses[0]:.3f} -> {losses[-1]:.3f}")
    if world.size > 1:
        torch.distributed.barrier()


def start_policy(config: TrainConfig, world: World, out: Path, resuming: bool
                 ) -> tuple[Any, Any, Reference, Any]:
    """The model (warm-started), the engine around it, the reference policy and the
    tokenizer. The reference is a copy of the starting policy on every rank."""
    lm, tokenizer = load_policy_model(config, world)
    # Dropout would make the ratio pi/pi_old differ from 1 at an unchanged policy (and the
    # samples come from a different policy than the one scored); RL runs without it.
    disable_dropout(lm)
    if config.warm_start.steps:
        warm_start(config, lm, tokenizer, world, out / "warm_start", resuming)
        # Each rank trained its own copy (CUDA backward is not bitwise deterministic), and
        # the reference below is copied before DeepSpeed broadcasts rank 0's weights.
        broadcast_from_main(lm, world)
    if config.model.lora:
        lm = add_lora(config, lm)
    reference = Reference(config, lm, world)
    engine, scheduler = build_engine(config, lm, world, estimated_optimizer_steps(config, world))
    reference.attach(engine)
    return engine, scheduler, reference, tokenizer


def check_warm_start_fits(needed: int, free: int) -> None:
    """The warm start trains the whole model on each rank's device, unsharded even under
    ZeRO-3: refuse before an out-of-memory error halfway through."""
    if needed > 0.9 * free:
        raise ConfigError(
            f"warm_start.steps: the warm start trains the whole model on one device and needs "
            f"about {needed / 2**30:.1f} GiB for weights, gradients and AdamW state before "
            f"activations; {free / 2**30:.1f} GiB are free. Warm-start in a separate SFT run "
            "under ZeRO-3 (rlft data, then run.mode=sft; docs/sft.md) and start RL from its "
            "export with warm_start.steps=0")


def add_lora(config: TrainConfig, lm: Any) -> Any:
    from peft import LoraConfig, get_peft_model

    return get_peft_model(lm, LoraConfig(r=config.model.lora_rank,
                                         lora_alpha=config.model.lora_alpha,
                                         target_modules=config.model.lora_target_modules,
                                         lora_dropout=0.0, task_type="CAUSAL_LM"))


def estimated_optimizer_steps(config: TrainConfig, world: World) -> int:
    """For the cosine schedule. Bandit rollouts have exactly num_envs x horizon transitions;
    tic-tac-toe episodes are assumed to last 4 agent moves."""
    length = config.env.horizon if config.env.name in BANDITS else 4
    per_rank = config.rollout.num_envs * length
    per_rollout = max(1, per_rank * world.size // config.optim.batch_size)
    return max(1, config.run.iterations * config.algo.update_epochs * per_rollout)


def grouped_instances(config: TrainConfig, env: Any, seed: int) -> dict[str, Any] | None:
    """Reset options for algo.group_size > 1: rows [kG, (k+1)G) play one training instance,
    drawn (seeded) from the pool; None lets every row draw its own."""
    size = config.algo.group_size
    if size == 1:
        return None
    ids = np.random.default_rng([seed, 5]).choice(env.train_task_ids(), env.num_envs // size)
    return {"task_ids": np.repeat(ids, size)}


# ----------------------------------------------------------------------------- rewards

def sequence_kl(old: list[torch.Tensor], ref: list[torch.Tensor]) -> np.ndarray:
    """Per transition: the k1 estimate of KL(pi_old || pi_ref) summed over its answer."""
    return np.array([float(kl_reward_estimate(o, r).sum()) for o, r in zip(old, ref)])


def sampler_gap(transitions: Sequence[Transition], old: Sequence[torch.Tensor]
                ) -> dict[str, float]:
    """|sampler's log-prob - trainer's first-pass log-prob| of the same sampled tokens (forced
    steps have none), mean and max (0 when no token was sampled). About 0 when both compute
    the same function; on a GPU it says whether the PPO ratio exp(logp - old_logp) can be
    trusted against its clip."""
    gaps = [np.abs(np.asarray(t.sampled_logprobs) - o.numpy())
            for t, o in zip(transitions, old) if t.sampled_logprobs]
    flat = np.concatenate(gaps) if gaps else np.zeros(1)
    return {"rollout/sampler_logprob_gap_mean": float(flat.mean()),
            "rollout/sampler_logprob_gap_max": float(flat.max())}


def compute_advantages(config: TrainConfig, transitions: Sequence[Transition], num_rows: int,
                       scaler: RewardScaler, values: np.ndarray | None, answer_kl: np.ndarray,
                       world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-transition (shaped reward, advantage, return) in rollout order. answer_kl: each
    transition's sequence_kl, subtracted (times beta) from its reward with kl_mode 'reward'.
    The reward scaler learns from every rank's rollout, so all ranks hold the same statistics."""
    rows = np.array([t.row for t in transitions])
    steps = np.array([t.step for t in transitions])
    env_rewards = np.array([t.env_reward for t in transitions])
    if config.algo.normalize_rewards:
        env_grid = step_grid(transitions, list(env_rewards), num_rows)
        everyone = gather_rows(env_grid, world)
        env_rewards = scaler.scale(np.nan_to_num(env_grid), ~np.isnan(env_grid),
                                   (np.nan_to_num(everyone), ~np.isnan(everyone)))[rows, steps]
    rewards = shaped_reward(env_rewards, np.array([t.invalid for t in transitions]),
                            config.algo.invalid_penalty,
                            np.array([t.novel for t in transitions]),
                            config.algo.exploration_bonus)
    if config.algo.kl_mode == "reward":
        rewards = rewards - config.algo.kl_coef * answer_kl
    grid = step_grid(transitions, list(rewards), num_rows)
    present = ~np.isnan(grid)
    if config.algo.advantage == "mc":
        advantage, returns = adv.monte_carlo_advantages(
            torch.tensor(np.nan_to_num(grid)), config.algo.gamma,
            normalize=config.algo.normalize_advantages, group_size=config.algo.group_size)
    else:
        value_grid = torch.tensor(np.nan_to_num(step_grid(transitions, list(values), num_rows)))
        dones = torch.tensor(~present, dtype=torch.float64)
        dones[torch.arange(grid.shape[0]), torch.tensor(present.sum(axis=1) - 1)] = 1.0
        advantage, returns = adv.gae(torch.tensor(np.nan_to_num(grid)), value_grid, dones,
                                     torch.zeros(grid.shape[0], dtype=torch.float64),
                                     config.algo.gamma, config.algo.gae_lambda)
        if config.algo.normalize_advantages:
            valid = advantage[torch.tensor(present)]
            advantage = (advantage - valid.mean()) / (valid.std() + 1e-8)
    return rewards, advantage.numpy()[rows, steps], returns.numpy()[rows, steps]


# ----------------------------------------------------------------------------- updates

def _collate(chunk: list[Transition], pad_id: int, device: torch.device,
             synced: bool) -> TokenBatch:
    """A micro-batch around its shared prompt prefix. With `synced` (ZeRO-3 on several ranks,
    where every forward gathers shards from all ranks) the ranks agree on whether to run a
    prefix forward: all do, or, if any rank's rows share no token, none does."""
    prompts = [t.prompt_ids for t in chunk]
    batch = collate(prompts, [t.answer_ids for t in chunk], pad_id, device)
    if synced:
        shares = torch.tensor([int(batch.prefix_ids.shape[1] > 0)], device=device)
        torch.distributed.all_reduce(shares, op=torch.distributed.ReduceOp.MIN)
        if not int(shares) and batch.prefix_ids.shape[1]:
            batch = collate(prompts, [t.answer_ids for t in chunk], pad_id, device,
                            prefix_length=0)
    return batch


def _micro_batches(transitions: Sequence[Transition], micro: int, pad_id: int,
                   device: torch.device, synced: bool
                   ) -> Iterator[tuple[list[Transition], TokenBatch]]:
    """The rollout in order, micro transitions at a time. With `synced` (ZeRO-3 on several
    ranks) a rank with fewer chunks repeats its last one until every rank has run as many
    forwards; callers drop those (empty chunk)."""
    count = -(-len(transitions) // micro)
    total = count
    if synced:
        most = torch.tensor([count], device=device)
        torch.distributed.all_reduce(most, op=torch.distributed.ReduceOp.MAX)
        total = int(most)
    for index in range(total):
        # A repeat is collated again: the ranks agree on every batch's prefix (_collate).
        chunk = transitions[min(index, count - 1) * micro:][:micro]
        yield (chunk if index < count else []), _collate(chunk, pad_id, device, synced)


def _rows(logp: torch.Tensor, chunk: list[Transition]) -> list[torch.Tensor]:
    host = logp[:len(chunk)].float().cpu()  # one copy per micro-batch, not one per row
    return [host[i, :len(t.answer_ids)] for i, t in enumerate(chunk)]


@torch.no_grad()
def rollout_logprobs(config: TrainConfig, engine: Any, reference: Reference,
                     transitions: Sequence[Transition], pad_id: int, device: torch.device,
                     synced: bool
                     ) -> tuple[list[torch.Tensor], list[torch.Tensor], np.ndarray]:
    """Behaviour-policy and reference log-probs of the sampled answer tokens, and values."""
    old, ref, values = [], [], []
    engine.eval()
    for chunk, batch in _micro_batches(transitions, config.optim.micro_batch_size, pad_id,
                                       device, synced):
        logp, _, value = answer_logprobs(engine, batch, config.rollout.temperature)
        with reference.active() as ref_module:
            ref_logp, _, _ = answer_logprobs(ref_module, batch, config.rollout.temperature)
        old.extend(_rows(logp, chunk))
        ref.extend(_rows(ref_logp, chunk))
        if value is not None:
            values.extend(value[:len(chunk)].float().cpu().tolist())
    engine.train()
    return old, ref, np.array(values) if values else np.zeros(len(transitions))


def _pad(rows: list[torch.Tensor], length: int) -> torch.Tensor:
    out = torch.zeros(len(rows), length)
    for i, row in enumerate(rows):
        out[i, :row.numel()] = row
    return out


def ppo_update(config: TrainConfig, engine: Any, transitions: Sequence[Transition],
               old: list[torch.Tensor],
               ref: list[torch.Tensor], advantage: np.ndarray, returns: np.ndarray,
               old_values: np.ndarray, pad_id: int, device: torch.device, iteration: int,
               world: World) -> dict[str, float]:
    """update_epochs passes of clipped-surrogate + KL (+ value) over shuffled micro-batches.
    Each pass uses whole optimizer batches only (every rank the same count)."""
    micro = config.optim.micro_batch_size
    synced = config.engine.zero_stage == 3 and world.size > 1
    accumulation = config.optim.batch_size // (micro * world.size)
    usable = len(transitions) // (micro * accumulation) * accumulation
    if torch.distributed.is_initialized() and world.size > 1:
        count = torch.tensor([usable], device=device)  # on the device: NCCL has no CPU path
        torch.distributed.all_reduce(count, op=torch.distributed.ReduceOp.MIN)
        usable = int(count)
    stats: dict[str, list[float]] = {}
    # kl_mode 'reward' has put the KL into the advantages already.
    loss_kl_coef = config.algo.kl_coef if config.algo.kl_mode == "loss" else 0.0
    trained_tokens = 0
    steps_taken = 0
    rng = np.random.default_rng([config.run.seed, iteration, world.rank])
    for _ in range(config.algo.update_epochs):
        order = rng.permutation(len(transitions))
        for index in range(usable):
            picked = order[index * micro:(index + 1) * micro]
            chunk = [transitions[i] for i in picked]
            batch = _collate(chunk, pad_id, device, synced)
            length = batch.answer_ids.shape[1]
            logp, entropy, values = answer_logprobs(engine, batch, config.rollout.temperature,
                                                    with_entropy=True)
            old_logp = _pad([old[i] for i in picked], length).to(device)
            ref_logp = _pad([ref[i] for i in picked], length).to(device)
            token_adv = torch.tensor(advantage[picked], dtype=torch.float32,
                                     device=device)[:, None]
            loss, step_stats = ppo_kl_loss(logp, old_logp, ref_logp, token_adv,
                                           batch.answer_mask, config.algo.clip_eps,
                                           loss_kl_coef, config.algo.kl_estimator)
            if values is not None:
                v_loss = value_loss(values, torch.tensor(old_values[picked], device=device,
                                                         dtype=torch.float32),
                                    torch.tensor(returns[picked], device=device,
                                                 dtype=torch.float32)).mean()
                loss = loss + config.algo.value_coef * v_loss
                step_stats["value/loss"] = v_loss.detach()
            mask = batch.answer_mask.float()
            step_stats["policy/entropy"] = (entropy * mask).sum() / mask.sum()
            engine.backward(loss)
            engine.step()
            trained_tokens += batch.computed_tokens
            for key, value in step_stats.items():  # kept on the device: no sync per step
                stats.setdefault(key, []).append(value.detach().float().reshape(()))
            if (index + 1) % accumulation == 0:
                steps_taken += 1
    host = {key: torch.stack(values).cpu().tolist() for key, values in stats.items()}
    out = {key: float(np.mean(values)) for key, values in host.items()}
    out["optim/updates"] = float(steps_taken)
    out["optim/trained_tokens"] = float(trained_tokens)
    return out


# ----------------------------------------------------------------------------- the run

def progress_text(metrics: dict[str, float]) -> str:
    """The progress bar's figures of an iteration's rollout."""
    parts = [f"invalid {metrics['rollout/invalid_rate']:.2f}"]
    if "env/regret" in metrics:
        parts += [f"coverage {metrics['rollout/coverage']:.2f}",
                  f"regret {metrics['env/regret']:.2f}"]
    else:
        parts.append(f"win {metrics['env/win_rate']:.2f}")
    return ", ".join(parts)


def train(config: TrainConfig) -> dict[str, Any]:
    out = Path(config.run.out_dir)
    # Before any work, and before this run's config.json replaces the saved one.
    resume_tag = checkpoint_to_resume(config, out)
    world = init_world(config.engine.threads)
    validate(config, world.size)
    deepspeed_config(config, world, use_bf16(config, world))  # its ConfigErrors, before work
    torch.manual_seed(config.run.seed)
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    write_run_start(out, world.is_main, resumed=resume_tag is not None)
    checkpoints = out / "checkpoints"

    engine, scheduler, reference, tokenizer = start_policy(config, world, out,
                                                           resume_tag is not None)
    pad_id = tokenizer.pad_token_id
    synced = config.engine.zero_stage == 3 and world.size > 1

    scaler = RewardScaler(config.algo.gamma)
    start_iteration = 0
    results: dict[str, Any] = {}
    if resume_tag is not None:
        state = load_checkpoint(engine, checkpoints, resume_tag)
        start_iteration = state["iteration"]
        scaler.load_state_dict(state["reward_scaler"])
        results = state.get("results", {})
        if world.is_main:
            print(f"resumed from {checkpoints / resume_tag} at iteration {start_iteration}")
    log = RunLog(out, world.is_main, config.run.tensorboard, config.run.wandb, config.to_dict(),
                 start_iteration)

    # ZeRO-3 rollouts generate with gathered weights, or in lock-step with every token
    # gathering the shards (then every rank steps until all ranks' episodes are done).
    gather = config.engine.zero_stage == 3 and config.engine.zero3_gather_for_generation
    lockstep = synced and not gather
    any_active = (lambda flag: agree_any(flag, world)) if lockstep else bool
    if config.eval.at_start and "start policy" not in results:
        engine.eval()
        with gathered_for_generation(engine, gather):
            results["start policy"] = evaluate_policy(config, engine.module.lm, tokenizer,
                                                      lockstep, any_active)
        engine.train()
        if world.is_main:
            save_results(config, results, out)

    env = make_env(config, config.rollout.num_envs, _seed(config.run.seed, 2, world.rank),
                   "train")
    sampling = SamplingConfig(temperature=config.rollout.temperature, top_p=config.rollout.top_p,
                              max_new_tokens=config.rollout.max_new_tokens,
                              batch_size=config.rollout.generation_batch_size,
                              max_prompt_tokens=config.rollout.max_prompt_tokens)
    exploration = ExplorationConfig(try_all=config.algo.try_all, epsilon=config.algo.epsilon)
    agent = LLMAgent(engine.module.lm, tokenizer, env, config.prompt, sampling, exploration,
                     synced_gpus=lockstep)

    from tqdm.auto import tqdm

    started = time.perf_counter()
    bar = tqdm(total=config.run.iterations, initial=start_iteration, desc="rlft train",
               unit="it", disable=not (config.run.progress and world.is_main))
    iteration = start_iteration
    for iteration in range(start_iteration, config.run.iterations):
        t0 = time.perf_counter()
        generated_before, generate_s_before = agent.new_tokens, agent.generate_seconds
        bar.set_description_str("rlft train [rollout]")
        with gathered_for_generation(engine, gather):
            seed = _seed(config.run.seed, 3, iteration, world.rank)
            rollout, transitions = collect(env, agent, seed, any_active,
                                           grouped_instances(config, env, seed))
        num_rows = rollout.actions.shape[0]
        t1 = time.perf_counter()
        bar.set_description_str("rlft train [log-probs]")
        old, ref, old_values = rollout_logprobs(config, engine, reference, transitions, pad_id,
                                                world.device, synced)
        answer_kl = sequence_kl(old, ref)
        rewards, advantage, returns = compute_advantages(config, transitions, num_rows, scaler,
                                                         old_values, answer_kl, world)
        t2 = time.perf_counter()
        bar.set_description_str("rlft train [update]")
        update_stats = ppo_update(config, engine, transitions, old, ref, advantage, returns,
                                  old_values, pad_id, world.device, iteration, world)
        t3 = time.perf_counter()
        answer_tokens = [len(t.answer_ids) for t in transitions]
        metrics = {
            "rollout/shaped_reward": float(np.mean(rewards)),
            "rollout/env_return": float(np.mean(rollout.returns)),
            "rollout/invalid_rate": rollout.invalid_rate,
            "rollout/coverage": float(np.mean(rollout.coverage)),
            # Per answer token: the k1 estimate of KL(pi_old || pi_ref) on the samples.
            "rollout/kl_ref": float(answer_kl.sum() / max(1, sum(answer_tokens))),
            **sampler_gap(transitions, old),
            "rollout/transitions": float(len(transitions)),
            "rollout/answer_tokens": float(np.mean(answer_tokens)),
            **update_stats,
            "optim/lr": float(scheduler.get_last_lr()[0]),
            "perf/generate_tokens_per_s": (agent.new_tokens - generated_before)
            / max(agent.generate_seconds - generate_s_before, 1e-9),
            "perf/rollout_s": t1 - t0, "perf/logprob_s": t2 - t1, "perf/update_s": t3 - t2,
            "perf/update_tokens_per_s": update_stats["optim/trained_tokens"]
            / max(t3 - t2, 1e-9),
        }
        if config.env.name in BANDITS:
            metrics["env/regret"] = float(np.mean(rollout.final_regret))
        else:
            metrics["env/win_rate"] = float(np.mean(rollout.winner == 1))
            metrics["env/loss_rate"] = float(np.mean(rollout.winner == 2))
        metrics = reduce_metrics(metrics, world)
        log.log(iteration, metrics)
        log.samples(iteration, samples_of(rollout, config.run.sample_rollouts))
        bar.update(1)
        bar.set_postfix_str(progress_text(metrics))
        # Every rank takes the same decision: one stopping alone would wait in the checkpoint
        # barrier while the others start the next iteration.
        done = iteration + 1 == config.run.iterations or out_of_time(
            config.run.time_limit_s, started, time.perf_counter() - t0, world)
        every = config.run.checkpoint_every
        if (every and (iteration + 1) % every == 0) or done:
            save_checkpoint(engine, checkpoints, iteration + 1,
                            {"iteration": iteration + 1, "reward_scaler": scaler.state_dict(),
                             "results": results},
                            config.run.keep_checkpoints, world.is_main)
        if done:
            break
    bar.close()

    from rlft.analysis.plots import plot_training

    def evaluate(lm: Any) -> dict[str, Any]:
        with gathered_for_generation(engine, gather):
            return evaluate_policy(config, lm, tokenizer, lockstep, any_active)

    if world.is_main and config.run.progress:
        print("final evaluation: the trained policy and the baselines on the held-out "
              "instances", flush=True)
    finish_run(config, engine, tokenizer, results, out, world, evaluate, plot_training)
    if config.eval.analyses and world.is_main:
        start = out / "warm_start" if config.warm_start.steps else None
        analyse_start_and_final(config, out, start)
    log.close()
    write_run_end(out, world.is_main)
    return results
