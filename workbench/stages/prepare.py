"""Stage ``prepare``: raw text to memory-mapped token shards (resumable; reused when finished)."""

from __future__ import annotations

import logging
from pathlib import Path

from workbench.artifacts.layout import shards_dir, tokenizer_dir
from workbench.artifacts.manifest import read_manifest
from workbench.artifacts.provenance import config_hash
from workbench.artifacts.reuse import Reuse, config_differences, reuse_decision
from workbench.config.choices import ConfigError
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import require
from workbench.corpus.prepare import prepare_corpus, shard_set_identity
from workbench.tokenization.tokenizer import Tokenizer
from workbench.training.init_from import plan_init_from

log = logging.getLogger(__name__)

TRAINED_TOKENIZER = "tokenizer"  # the manifest's "artifact" of a folder the tokenizer stage trained


def check_tokenizer_folder(cfg: WorkbenchConfig) -> None:
    """The tokenizer folder must have been trained with ``cfg.tokenizer``, the rule of the tokenizer stage's reuse:
    prepare tokenizes with the folder, so a config that says otherwise (vocab_size, algorithm, ...) is refused
    naming what differs. A folder the tokenizer stage did not train (imported) has no config to compare."""
    tokenizer = cfg.tokenizer
    assert tokenizer is not None
    folder = tokenizer_dir(cfg)
    manifest = read_manifest(folder)
    if manifest is None or manifest.artifact != TRAINED_TOKENIZER:
        return
    decision = reuse_decision(folder, config_hash(tokenizer),
                              differences=lambda manifest: config_differences(manifest.config, tokenizer, "tokenizer"))
    if not isinstance(decision, Reuse):
        raise ConfigError(
            f"{folder} holds a tokenizer trained with another config than this one, and prepare would tokenize with"
            f" the folder: {'; '.join(decision.differences)}."
            f" Use the folder's values, or choose a new tokenizer.name (e.g. tokenizer.name={cfg.tokenizer.name}-v2)"
            " and run python -m workbench tokenizer first, or delete the folder to train it again"
        )


def prepare_shards(cfg: WorkbenchConfig) -> Path:
    require(cfg, ["tokenizer", "corpus"], "prepare")
    assert cfg.corpus is not None
    if cfg.init_from:  # tokenize with the folder's tokenizer (extended when asked), written as a tokenizer folder
        cfg = plan_init_from(cfg).cfg
    else:
        check_tokenizer_folder(cfg)
    tokenizer = Tokenizer.load(tokenizer_dir(cfg))
    out = shards_dir(cfg)
    # prepare_corpus applies the decision (reuse, resume, or refuse another config's shards); this line says it
    decision = reuse_decision(out, config_hash(shard_set_identity(cfg.corpus, cfg.packing, tokenizer, cfg.seed)))
    log.info("shards %s", decision.describe() if isinstance(decision, Reuse) else f"to prepare: {decision.reason}")
    manifest = prepare_corpus(cfg.corpus, cfg.packing, tokenizer, out, seed=cfg.seed)
    counts = {split: (info["sequences"], info["tokens"]) for split, info in manifest["splits"].items()}
    log.info("shards in %s: (sequences, tokens) per split %s", out, counts)
    return out


run = prepare_shards
