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
from workbench.evaluation.config import RANDOM_INIT_SUFFIX, FinetuneConfig
from workbench.evaluation.errors import FinetuneError
from workbench.evaluation.finetune import JobResult, finetune_task
from workbench.evaluation.job_tracking import JobTracking
from workbench.evaluation.local_data import tasks_for
from workbench.evaluation.results_db import ResultsDB
from workbench.training.export import EXPORT_DIR, refresh_run_card

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
                                   tracking=tracking, card=cfg.model_card)
            summary = {split: {k: round(v, 2) for k, v in metrics.items()} for split, metrics in result.scores.items() if split != "train"}
            log.info("%s %s: %s", result.key.model, task.name, summary)
            results.append(result)
        _refresh_run_card(cfg, finetune, tasks, results)
    return results


def _refresh_run_card(cfg: WorkbenchConfig, finetune: FinetuneConfig, tasks, results: List[JobResult]) -> None:
    """A pretraining run's model (``runs/<run>/model`` or the run folder) was evaluated: its transformers export's
    model card gets the evaluation table and random-init gain of every stored job of that model."""
    path = Path(finetune.model)
    run = path.parent if path.name == "model" else path
    if not results or not (run / EXPORT_DIR / "config.json").exists() or not (run / "model").is_dir():
        return
    name = results[-1].key.model.removesuffix(RANDOM_INIT_SUFFIX)
    rows = ResultsDB(finetune.database or results_db(cfg)).results(models=[name, name + RANDOM_INIT_SUFFIX])
    kinds = {task.name: task.kind for task in tasks}
    card = refresh_run_card(run, cfg.model_card, rows, kinds, name)
    if card is not None:
        log.info("model card updated with %d stored scores: %s", len(rows), card)


run = evaluate
