"""Where a run's numbers go: JSONL per update, TensorBoard, optionally Weights & Biases, and
text samples of rollouts. Only rank 0 writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class RunLog:
    def __init__(self, out_dir: Path, enabled: bool, tensorboard: bool, wandb: bool,
                 config: dict[str, Any], start_iteration: int) -> None:
        self.enabled = enabled
        self.out_dir = Path(out_dir)
        self._tb = None
        self._wandb = None
        if not enabled:
            return
        self.metrics_path = self.out_dir / "metrics.jsonl"
        self._truncate(self.metrics_path, start_iteration)
        self._truncate(self.out_dir / "samples.jsonl", start_iteration)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # A resumed run drops the events of the iterations it replays (no duplicate steps).
            self._tb = SummaryWriter(str(self.out_dir / "tensorboard"),
                                     purge_step=start_iteration or None)
        if wandb:
            import wandb as wandb_module  # optional dependency

            self._wandb = wandb_module.init(project="rlft", config=config,
                                            dir=str(self.out_dir), id=self._wandb_id(),
                                            resume="allow")

    def _wandb_id(self) -> str:
        """The run directory's Weights & Biases run id, made on first use, so that a resumed
        run continues the same wandb run."""
        path = self.out_dir / "wandb_run_id"
        if not path.is_file():
            import uuid

            path.write_text(uuid.uuid4().hex[:16] + "\n")
        return path.read_text().strip()

    @staticmethod
    def _truncate(path: Path, start_iteration: int) -> None:
        """On resume, drop lines of iterations that the checkpoint does not contain."""
        if not path.is_file():
            return
        kept = [line for line in path.read_text().splitlines()
                if line and json.loads(line).get("iteration", -1) < start_iteration]
        path.write_text("".join(line + "\n" for line in kept))

    def log(self, iteration: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"iteration": iteration, **metrics}) + "\n")
        if self._tb is not None:
            for key, value in metrics.items():
                self._tb.add_scalar(key, value, iteration)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(metrics, step=iteration)

    def samples(self, iteration: int, samples: list[dict[str, Any]]) -> None:
        if not self.enabled or not samples:
            return
        with open(self.out_dir / "samples.jsonl", "a") as f:
            for sample in samples:
                f.write(json.dumps({"iteration": iteration, **sample}) + "\n")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
