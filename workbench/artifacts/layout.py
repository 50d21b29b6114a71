"""Where each stage's artifacts live, derived from the typed config (one place for every path rule)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from workbench.artifacts.provenance import config_hash, to_plain
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


def read_manifest(directory: Path) -> Optional[dict[str, Any]]:
    path = directory / "manifest.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def finished_with(directory: Path, config: Any) -> bool:
    """True when ``directory`` holds a finished artifact built from exactly ``config``."""
    manifest = read_manifest(directory)
    return manifest is not None and manifest.get("config_hash") == config_hash(config)


def _leaves(value: Any, prefix: str) -> Dict[str, Any]:
    if isinstance(value, dict) and value:
        out: Dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


_ABSENT = object()


def config_differences(manifest: dict[str, Any], config: Any, prefix: str) -> List[str]:
    """``key=<recorded> in the folder, <value> in this config`` for each key where ``config`` differs from the
    config ``manifest`` records (both as the JSON the manifest holds)."""
    recorded = _leaves(manifest.get("config"), prefix)
    current = _leaves(json.loads(json.dumps(to_plain(config), default=str)), prefix)
    differences = []
    for key in sorted(set(recorded) | set(current)):
        there, here = recorded.get(key, _ABSENT), current.get(key, _ABSENT)
        if there != here:
            show = lambda value: "absent" if value is _ABSENT else json.dumps(value, ensure_ascii=False)  # noqa: E731
            differences.append(f"{key}={show(there)} in the folder, {show(here)} in this config")
    return differences
