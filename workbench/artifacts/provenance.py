"""Provenance recorded in every artifact: resolved config, code version, library versions."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import subprocess
import sys
from dataclasses import asdict, is_dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench.hardware.cpu_features import cpu_features

LIBRARIES = (
    "torch",
    "tokenizers",
    "sentencepiece",
    "sacremoses",
    "safetensors",
    "numpy",
    "hydra-core",
    "omegaconf",
    "datasets",
    "transformers",
)

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """Package version plus the git commit (and whether the tree had local changes) when run from a checkout."""
    info: dict[str, Any] = {"workbench": _version("workbench") or "unknown"}
    try:
        commit = subprocess.run(
            ["git", "-C", str(_REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(_REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            info["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {name: _version(name) for name in LIBRARIES}
    versions["python"] = platform.python_version()
    return versions


def to_plain(config: Any) -> Any:
    """A dataclass / OmegaConf node / plain value as JSON-ready plain data."""
    if is_dataclass(config) and not isinstance(config, type):
        return asdict(config)
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(config, (DictConfig, ListConfig)):
            return OmegaConf.to_container(config, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return config


def config_hash(config: Any) -> str:
    """Stable hash of a config: the identity of the artifact it produces."""
    payload = json.dumps(to_plain(config), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def provenance(config: Any, **extra: Any) -> dict[str, Any]:
    """The provenance block stored in a manifest."""
    record = {
        "config": to_plain(config),
        "config_hash": config_hash(config),
        "code": code_version(),
        "libraries": library_versions(),
        "platform": platform.platform(),
        "cpu": cpu_features().as_dict(),  # model, vector flags, torch's kernel ISA, native bf16
        "argv": sys.argv,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    record.update(extra)
    return record
