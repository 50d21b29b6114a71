"""Pretrained vs random init, end to end: pretrain (reusing finished artifacts), fine-tune the final model, its
random initialisation and optionally every kept checkpoint with each seed, then write the report.

``benchmarks/bench_pretraining_gain.py`` runs it for an experiment and prints the gain table; the CI test runs
it on the shipped sample with tiny settings.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import List, Optional, Sequence

from workbench.artifacts.layout import model_dir, results_db, run_dir
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import require
from workbench.evaluation.finetune import JobResult
from workbench.evaluation.report import ReportFiles, build_report
from workbench.stages.evaluate import evaluate
from workbench.stages.prepare import prepare_shards
from workbench.stages.tokenizer import train_vocabulary
from workbench.stages.train import train

log = logging.getLogger(__name__)


@dataclasses.dataclass
class GainStudy:
    jobs: List[JobResult]
    report: ReportFiles


def pretraining_gain(cfg: WorkbenchConfig, seeds: Sequence[int], checkpoints: Optional[str] = None) -> GainStudy:
    """Every task of ``cfg`` (``task`` or ``tasks``) fine-tuned from the run's final model and from random init with
    each seed (and from ``checkpoints`` of the run, e.g. ``all``); the report of the results database."""
    require(cfg, ["model", "tokenizer", "corpus"], "pretraining gain")
    train_vocabulary(cfg)
    prepare_shards(cfg)
    if train(cfg).stopped_early:
        raise SystemExit("pretraining was interrupted; rerun the same command to resume")
    finetune = dataclasses.replace(cfg.finetune, model=cfg.finetune.model or str(model_dir(cfg)))
    variants = [finetune, dataclasses.replace(finetune, init="random")]
    if checkpoints:
        variants.append(dataclasses.replace(finetune, model=str(run_dir(cfg)), checkpoints=checkpoints))
    jobs: List[JobResult] = []
    for seed in seeds:
        for variant in variants:
            jobs += evaluate(dataclasses.replace(cfg, seed=seed, finetune=variant))
    report = build_report(cfg.report, cfg.report.database or results_db(cfg))
    log.info("report: %s", ", ".join(map(str, report.written())))
    return GainStudy(jobs, report)
