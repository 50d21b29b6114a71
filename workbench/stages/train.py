"""Stage ``train``: pretrain an encoder into ``runs/<run_name>/`` (resumes an interrupted run)."""

from __future__ import annotations

import logging

from omegaconf import OmegaConf

from workbench.artifacts.atomic import write_text
from workbench.artifacts.layout import run_dir, shards_dir, tokenizer_dir
from workbench.artifacts.model_folder import is_model_folder
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import require
from workbench.corpus.shards import ShardSet
from workbench.tokenization.tokenizer import Tokenizer
from workbench.training import distributed
from workbench.training.loop import TrainResult, pretrain

log = logging.getLogger(__name__)


def train(cfg: WorkbenchConfig) -> TrainResult:
    require(cfg, ["model", "tokenizer", "corpus"], "train")
    out = run_dir(cfg)
    if is_model_folder(out / "model"):
        log.info("run %s is finished (model/ exists): nothing to do; choose another run_name to train again", out)
        return TrainResult(out, steps=cfg.trainer.max_steps)
    tokenizer = Tokenizer.load(tokenizer_dir(cfg))
    shards = ShardSet.open(shards_dir(cfg))
    runtime = distributed.setup(cfg.hardware)
    try:
        if runtime.is_main:
            out.mkdir(parents=True, exist_ok=True)
            write_text(out / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg)))
        return pretrain(cfg, tokenizer, shards, out, runtime)
    finally:
        distributed.teardown(runtime)


run = train
