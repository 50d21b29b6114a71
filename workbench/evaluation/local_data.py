"""``data=local``: a task reads its copy under ``paths.data`` (the task's ``local`` block) instead of its own source.

The block's train/dev/test/extra_test replace the task's (relative paths are under ``paths.data``; a dev or test
left unset is carved from train with the block's or the task's dev_fraction/test_fraction); any other field
it sets replaces the task's value. Applied once at the entry point, on the typed config.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from workbench.config.choices import ConfigError
from workbench.evaluation.config import DataConfig, LocalFiles, TaskConfig

_LOCATIONS = ("train", "dev", "test", "extra_test")


def _under(data_dir: Path, location: Optional[str]) -> Optional[str]:
    if location is None:
        return None
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else data_dir / path)


def local_task(task: TaskConfig, data_dir: str | Path) -> TaskConfig:
    """``task`` reading its local copy under ``data_dir``; a task without a ``local`` block is an error."""
    local: Optional[LocalFiles] = task.local
    if local is None:
        raise ConfigError(
            f"task {task.name} has no local copy (no `local:` block in conf/task/{task.name}.yaml); drop data=local"
            " for it, or give its files on the command line (task.format=..., task.train=..., task.dev=..., task.test=...)"
        )
    if local.train is None:
        raise ConfigError(f"task {task.name}: task.local.train is not set; name the training file under paths.data")
    data_dir = Path(data_dir)
    changes = {
        "train": _under(data_dir, local.train),
        "dev": _under(data_dir, local.dev),
        "test": _under(data_dir, local.test),
        "extra_test": {name: _under(data_dir, path) for name, path in local.extra_test.items()},
        "hub_name": None,
        "hub_subset": None,
    }
    for item in dataclasses.fields(LocalFiles):
        value = getattr(local, item.name)
        if item.name not in _LOCATIONS and value is not None:
            changes[item.name] = value
    if changes.get("format", task.format) == "datasets":
        raise ConfigError(f"task {task.name}: task.local.format must name the local files' format (tsv, csv, jsonl, conll, ...)")
    return dataclasses.replace(task, **changes)  # __post_init__ checks the result (e.g. dev or a dev_fraction)


def tasks_for(data: DataConfig, tasks: list, data_dir: str | Path) -> list:
    """The tasks as ``data`` asks: unchanged (``default``) or their local copies (``local``)."""
    if data.source != "local":
        return tasks
    return [local_task(task, data_dir) for task in tasks]
