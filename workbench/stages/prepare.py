"""Stage ``prepare``: raw text to memory-mapped token shards (resumable; reused when finished)."""

from __future__ import annotations

import logging
from pathlib import Path

from workbench.artifacts.layout import shards_dir, tokenizer_dir
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import require
from workbench.corpus.prepare import prepare_corpus
from workbench.tokenization.tokenizer import Tokenizer

log = logging.getLogger(__name__)


def prepare_shards(cfg: WorkbenchConfig) -> Path:
    require(cfg, ["tokenizer", "corpus"], "prepare")
    assert cfg.corpus is not None
    tokenizer = Tokenizer.load(tokenizer_dir(cfg))
    out = shards_dir(cfg)
    manifest = prepare_corpus(cfg.corpus, cfg.packing, tokenizer, out, seed=cfg.seed)
    counts = {split: (info["sequences"], info["tokens"]) for split, info in manifest["splits"].items()}
    log.info("shards in %s: (sequences, tokens) per split %s", out, counts)
    return out


run = prepare_shards
