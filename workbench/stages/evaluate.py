"""Stage ``eval`` (alias ``finetune``): fine-tune a model on each task and store the scores."""

from __future__ import annotations

import logging
from typing import List

from workbench.artifacts.layout import results_db
from workbench.config.choices import ConfigError
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import group_choices
from workbench.evaluation.finetune import JobResult, finetune_task

log = logging.getLogger(__name__)


def evaluate(cfg: WorkbenchConfig) -> List[JobResult]:
    tasks = [cfg.task] if cfg.task is not None else list(cfg.tasks.values())
    if not tasks:
        raise ConfigError(f"the eval stage needs a task: task=<name>; available: {', '.join(group_choices('task'))}")
    if not cfg.finetune.model:
        raise ConfigError(
            "the eval stage needs finetune.model=<folder>: a pretraining run's model/ folder"
            " (e.g. runs/quickstart/model) or a transformers model folder"
        )
    results = []
    for task in tasks:
        result = finetune_task(task, cfg.finetune, cfg.hardware, cfg.seed, cfg.paths.evals, database=cfg.finetune.database or results_db(cfg))
        summary = {split: {k: round(v, 2) for k, v in metrics.items()} for split, metrics in result.scores.items() if split != "train"}
        log.info("%s: %s", task.name, summary)
        results.append(result)
    return results


run = evaluate
