"""Stage ``tokenizer``: train a vocabulary into ``tokenizers/<name>/`` (reused when already built)."""

from __future__ import annotations

import logging
from pathlib import Path

from workbench.artifacts.layout import tokenizer_dir
from workbench.artifacts.provenance import config_hash
from workbench.artifacts.reuse import Reuse, config_differences, reuse_decision
from workbench.config.choices import ConfigError
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import require
from workbench.tokenization.train import train_tokenizer

log = logging.getLogger(__name__)


def train_vocabulary(cfg: WorkbenchConfig) -> Path:
    require(cfg, ["tokenizer", "corpus"], "tokenizer")
    assert cfg.tokenizer is not None and cfg.corpus is not None
    out = tokenizer_dir(cfg)
    tokenizer = cfg.tokenizer
    decision = reuse_decision(out, config_hash(tokenizer),
                              differences=lambda manifest: config_differences(manifest.config, tokenizer, "tokenizer"))
    if isinstance(decision, Reuse):
        log.info("tokenizer %s is already trained with this config: reusing %s", cfg.tokenizer.name, out)
        return out
    if decision.conflicts:
        raise ConfigError(
            f"{out} holds a tokenizer trained with a different config ({'; '.join(decision.differences)});"
            f" choose another tokenizer.name (e.g. tokenizer.name={cfg.tokenizer.name}-v2) or delete the folder"
        )
    log.info("tokenizer %s: training it (%s)", cfg.tokenizer.name, decision.reason)
    description = {"corpus": cfg.corpus.name, "sources": [s.path for s in cfg.corpus.sources]}
    train_tokenizer(cfg.tokenizer, list(cfg.corpus.sources), out, corpus_description=description)
    log.info("tokenizer written to %s", out)
    return out


run = train_vocabulary
