"""Helpers shared by the task readers: path resolution, label normalization, text examples of either classification kind."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import MultiLabelExample, TextExample


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


def label_list(value: object, delimiter: str, where: str) -> Optional[Tuple[str, ...]]:
    """The labels of a multi-label example: a list (jsonl, datasets) or one string cut at ``delimiter``
    (csv/tsv cells; empty pieces, e.g. of a trailing delimiter, are skipped). Sorted, without repeats; None: unlabeled."""
    if value is None:
        return None
    if isinstance(value, str):
        names = [piece.strip() for piece in value.split(delimiter)]
        return tuple(sorted({name for name in names if name}))
    if isinstance(value, (list, tuple)):
        names = []
        for item in value:
            if item is None or isinstance(item, (bool, list, tuple, dict)) or not label_text(item):
                raise TaskDataError(f"{where}: label {item!r} in {value!r} is not a label name (expected strings or numbers)")
            names.append(label_text(item))
        return tuple(sorted(set(names)))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (label_text(value),)
    raise TaskDataError(
        f"{where}: labels {value!r} are neither a list nor a string of labels separated by {delimiter!r} (task.label_delimiter)"
    )


def text_example(task: TaskConfig, text: object, pair: object, label: object, where: str):
    """A ``TextExample`` (single-label kinds) or a ``MultiLabelExample`` (``kind=multilabel_classification``)."""
    for key, value in (("text_column", text), ("pair_column", pair)):
        if (value is None and key == "text_column") or (value is not None and not isinstance(value, str)):
            raise TaskDataError(f"{where}: the value of {getattr(task, key)!r} (task.{key}) is {value!r}, not a text")
    if task.kind == "multilabel_classification":
        return MultiLabelExample(text, pair, label_list(label, task.label_delimiter, where), where)  # type: ignore[arg-type]
    name = None if label is None else label_text(label)
    if name == "":
        raise TaskDataError(
            f"{where}: the label ({task.label_column!r}, task.label_column) is empty; fill it in or drop the example"
            " (a test file without gold labels leaves the column out of every row)"
        )
    return TextExample(text, pair, name, where)  # type: ignore[arg-type]
