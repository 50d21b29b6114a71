"""JSON-lines classification files: one object per line (MNLI: {premise, hypothesis, label}).

The label field may be null (an unlabeled example) but not absent: a missing
field is a misspelled ``task.label_column``. Multi-label examples give their
labels as a JSON list, or as one string joined by ``task.label_delimiter``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import Example
from workbench.evaluation.readers.common import label_text, text_example


def read_jsonl(path: Path, task: TaskConfig) -> List[Example]:
    examples = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as error:
                raise TaskDataError(
                    f"{where}: not valid JSON ({error.msg} at column {error.colno}); task.format=jsonl expects one object per line"
                ) from None
            if not isinstance(record, dict):
                raise TaskDataError(f"{where}: expected a JSON object per line, got {type(record).__name__}")
            for key in ("text_column", "pair_column", "label_column", "filter_column"):
                name = getattr(task, key)
                if name is not None and name not in record:
                    raise TaskDataError(f"{where}: no field {name!r} (task.{key}); the record has {sorted(record)}")
            if task.filter_column is not None and label_text(record[task.filter_column]) != task.filter_value:
                continue
            pair = record[task.pair_column] if task.pair_column else None
            examples.append(text_example(task, record[task.text_column], pair, record[task.label_column], where))
    return examples
