"""Helpers shared by the task readers: path resolution and label normalization."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from workbench.evaluation.errors import TaskDataError


def resolve(path: str, base_dir: Optional[Path]) -> Path:
    """A task file path; relative paths are relative to ``base_dir`` (the directory the command runs in)."""
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = Path(base_dir) / resolved
    if not resolved.is_file():
        raise TaskDataError(f"task file {resolved} does not exist; fix the task's train/dev/test path or fetch the data")
    return resolved


def label_text(value: object) -> str:
    """Labels are compared as strings: 1, 1.0 and "1" name the same class."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()
