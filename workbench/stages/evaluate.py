"""Stage ``eval`` (alias ``finetune``): fine-tune a model on each task and store the scores.

``finetune.init=random`` fine-tunes the same architecture from the family's initialisation (its own row);
``finetune.checkpoints=all|last|'<steps>'`` fine-tunes those checkpoints of the run folder ``finetune.model``
(rows ``<run>@<step>``); ``data=local`` reads every task's copy under ``paths.data``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import List

from workbench.artifacts.layout import results_db
from workbench.config.choices import ConfigError
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import group_choices
from workbench.evaluation.checkpoints import select_checkpoints
from workbench.evaluation.config import FinetuneConfig
from workbench.evaluation.errors import FinetuneError
from workbench.evaluation.finetune import JobResult, finetune_task
from workbench.evaluation.job_tracking import JobTracking
from workbench.evaluation.local_data import tasks_for

log = logging.getLogger(__name__)


def model_jobs(finetune: FinetuneConfig) -> List[FinetuneConfig]:
    """One fine-tuning config per model to evaluate: the model itself, or each selected checkpoint of a run
    (the random init of a run is one job: it does not depend on the checkpoint)."""
    if finetune.checkpoints is None:
        return [finetune]
    checkpoints = select_checkpoints(Path(finetune.model), finetune.checkpoints)  # type: ignore[arg-type]
    if finetune.init == "random":
        checkpoints = checkpoints[-1:]
    return [dataclasses.replace(finetune, model=str(path), checkpoints=None) for path in checkpoints]


def evaluate(cfg: WorkbenchConfig) -> List[JobResult]:
    tasks = [cfg.task] if cfg.task is not None else list(cfg.tasks.values())
    if not tasks:
        raise ConfigError(f"the eval stage needs a task: task=<name>; available: {', '.join(group_choices('task'))}")
    if not cfg.finetune.model:
        raise ConfigError(
            "the eval stage needs finetune.model=<folder>: a pretraining run's model/ folder"
            " (e.g. runs/quickstart/model), one of its checkpoints (runs/<run>/checkpoints/step-N) or a"
            " transformers model folder"
        )
    tasks = tasks_for(cfg.data, tasks, cfg.paths.data)
    try:
        jobs = model_jobs(cfg.finetune)
    except FinetuneError as error:
        raise ConfigError(str(error)) from None
    tracking = JobTracking(cfg.tracking, Path(cfg.paths.evals))  # tracking=mlflow: a store in paths.evals by default
    tracking.check()
    results = []
    for finetune in jobs:
        for task in tasks:
            result = finetune_task(task, finetune, cfg.hardware, cfg.seed, cfg.paths.evals, database=finetune.database or results_db(cfg),
                                   tracking=tracking)
            summary = {split: {k: round(v, 2) for k, v in metrics.items()} for split, metrics in result.scores.items() if split != "train"}
            log.info("%s %s: %s", result.key.model, task.name, summary)
            results.append(result)
    return results


run = evaluate
