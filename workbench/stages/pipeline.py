"""Stage ``pipeline``: tokenizer -> prepare -> train -> eval -> report, reusing finished artifacts."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from workbench.artifacts.layout import model_dir
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import require
from workbench.stages.evaluate import evaluate
from workbench.stages.prepare import prepare_shards
from workbench.stages.report import report
from workbench.stages.tokenizer import train_vocabulary
from workbench.stages.train import train

log = logging.getLogger(__name__)


def pipeline(cfg: WorkbenchConfig) -> Path:
    require(cfg, ["model", "tokenizer", "corpus"], "pipeline")
    train_vocabulary(cfg)
    prepare_shards(cfg)
    result = train(cfg)
    if result.stopped_early:
        raise SystemExit("pretraining was interrupted; rerun the same command to resume")
    if not cfg.tasks and cfg.task is None:
        log.info("no tasks configured: skipping evaluation")
        return model_dir(cfg)
    finetune = dataclasses.replace(cfg.finetune, model=cfg.finetune.model or str(model_dir(cfg)))
    evaluate(dataclasses.replace(cfg, finetune=finetune))
    return report(cfg)


run = pipeline
