"""Where each stage's artifacts live, derived from the typed config (one place for every path rule)."""

from __future__ import annotations

from pathlib import Path

from workbench.config.choices import check_path_name
from workbench.config.root import WorkbenchConfig

# Names become one folder under their root (paths.tokenizers, paths.shards, paths.runs): each is checked here,
# where the path is made, whatever built the config (the schemas check them at start-up too).


def tokenizer_dir(cfg: WorkbenchConfig) -> Path:
    assert cfg.tokenizer is not None
    return Path(cfg.paths.tokenizers) / check_path_name("tokenizer.name", cfg.tokenizer.name)


def shards_dir(cfg: WorkbenchConfig) -> Path:
    assert cfg.corpus is not None and cfg.tokenizer is not None
    packing = cfg.packing
    corpus = check_path_name("corpus.name", cfg.corpus.name)
    tokenizer = check_path_name("tokenizer.name", cfg.tokenizer.name)
    return Path(cfg.paths.shards) / f"{corpus}-{tokenizer}-{packing.mode}{packing.max_seq_len}"


def run_dir(cfg: WorkbenchConfig) -> Path:
    """Hydra's output folder when it set one (its own path, itself made from a checked run_name), else
    paths.runs/run_name."""
    return Path(cfg.run_dir) if cfg.run_dir else Path(cfg.paths.runs) / check_path_name("run_name", cfg.run_name)


def model_dir(cfg: WorkbenchConfig) -> Path:
    """The model folder a finished pretraining run writes."""
    return run_dir(cfg) / "model"


def results_db(cfg: WorkbenchConfig) -> Path:
    return Path(cfg.paths.evals) / "results.sqlite"


def eval_runs_dir(cfg: WorkbenchConfig) -> Path:
    return Path(cfg.paths.evals) / "runs"
