"""What one fine-tuning job logs while it trains: TensorBoard always, MLflow with ``tracking=mlflow``.

TensorBoard writes live into ``.<seed-N>.live/tensorboard`` beside the job folder (the job folder itself is built
under a temporary name and renamed complete, ``atomic_dir``); ``finish`` adds the hyperparameters and the final
scores (TensorBoard's HParams view: one session per job, so a sweep compares in one table) and moves the events
into the folder being built, as ``<job>/tensorboard``. Scalars: ``train/loss`` (the mean over each
``finetune.log_every`` window, as in curves.jsonl) and ``train/lr`` at those steps, ``dev/<metric>`` at every dev
evaluation, ``<split>/<metric>`` of the best-dev model at the last step. The MLflow run gets the same metrics, the
job's config as params, and the finished job folder (manifest, metrics, curves, predictions, tensorboard) as
artifacts.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from workbench.tracking.config import TrackingConfig
from workbench.tracking.mlflow_run import EVAL_EXPERIMENT, MlflowRun, open_experiment, run_tags, start_run
from workbench.tracking.params import flatten_params
from workbench.training.metrics_log import TensorBoardLog

TENSORBOARD_DIR = "tensorboard"


@dataclass(frozen=True)
class JobTracking:
    """What the eval stage passes to every job: the tracking config and the store's default folder (paths.evals)."""

    tracking: TrackingConfig
    default_dir: Path

    def check(self) -> None:
        """Open the store once before any job (tracking=mlflow): a missing MLflow or a bad URI fails at once."""
        if self.tracking.enabled:
            open_experiment(self.tracking, self.default_dir, EVAL_EXPERIMENT)


class JobLog:
    """Context manager around one job's training: a failure ends its MLflow run as FAILED and removes the live
    TensorBoard folder (the job folder is not written)."""

    def __init__(self, run_dir: Path, tracking: Optional[JobTracking], name: str, config: Mapping[str, Any],
                 tags: Mapping[str, str]) -> None:
        self.run_dir = Path(run_dir)
        self.live = self.run_dir.with_name(f".{self.run_dir.name}.live")
        self._tracking, self._name, self._config, self._tags = tracking, name, dict(config), dict(tags)
        self._tb: Optional[TensorBoardLog] = None
        self.mlflow: Optional[MlflowRun] = None
        self.step = 0

    def __enter__(self) -> "JobLog":
        shutil.rmtree(self.live, ignore_errors=True)  # left by a job that was killed
        self._tb = TensorBoardLog(self.live / TENSORBOARD_DIR)
        if self._tracking is not None and self._tracking.tracking.enabled:
            self.mlflow = start_run(self._tracking.tracking, self._tracking.default_dir, EVAL_EXPERIMENT, self._name,
                                    flatten_params(self._config), run_tags("finetuning", self._tags))
        return self

    def _log(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        self.step = max(self.step, step)
        assert self._tb is not None, "JobLog is used inside its with block"
        self._tb.log(step, split, metrics)
        if self.mlflow is not None:
            self.mlflow.log(step, split, metrics)

    def train(self, step: int, loss: float, lr: float) -> None:
        self._log(step, "train", {"loss": loss, "lr": lr})

    def dev(self, step: int, scores: Mapping[str, float]) -> None:
        self._log(step, "dev", scores)

    def finish(self, folder: Path, hparams: Mapping[str, Any], scores: Mapping[str, Mapping[str, float]]) -> None:
        """Hyperparameters and final scores (``final/<split>/<metric>``, train timings left out), then the events
        move into ``folder`` (the job folder under its temporary name)."""
        assert self._tb is not None
        final = {f"final/{split}/{metric}": value for split, metrics in scores.items() if split != "train"
                 for metric, value in metrics.items()}
        self._tb.hparams(hparams, final, self.step)
        self._tb.close()
        self._tb = None
        os.replace(self.live / TENSORBOARD_DIR, folder / TENSORBOARD_DIR)
        if self.mlflow is not None:
            for split, metrics in scores.items():
                self.mlflow.log(self.step, f"final/{split}", metrics)

    def __exit__(self, error_type, error, traceback) -> None:
        if self._tb is not None:
            self._tb.close()
        shutil.rmtree(self.live, ignore_errors=True)
        if self.mlflow is not None:
            if error_type is None:
                self.mlflow.log_artifact(self.run_dir)  # the finished job folder, renamed in place by now
            self.mlflow.end("FINISHED" if error_type is None else "FAILED")


def job_hparams(hparams: Mapping[str, Any], model: str, task: str, seed: int, init: str) -> Dict[str, Any]:
    """The HParams view's columns: the resolved hyperparameters plus what tells jobs of a sweep apart."""
    return {"model": model, "task": task, "seed": seed, "init": init, **hparams}


def job_config(task: Any, finetune: Any, hparams: Mapping[str, Any], seed: int) -> Dict[str, Any]:
    """The job's resolved config as the manifest records it (MLflow params: ``task.*``, ``finetune.*``, ...)."""
    return {"task": asdict(task), "finetune": asdict(finetune), "hyperparameters": dict(hparams), "seed": seed}
