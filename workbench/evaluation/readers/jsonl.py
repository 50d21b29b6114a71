"""JSON-lines classification files (MNLI: one {premise, hypothesis, label} object per line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import TextExample
from workbench.evaluation.readers.common import label_text


def read_jsonl(path: Path, task: TaskConfig) -> List[TextExample]:
    examples = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise TaskDataError(f"{where}: not valid JSON ({error.msg}); task.format=jsonl expects one object per line") from None
            if not isinstance(record, dict):
                raise TaskDataError(f"{where}: expected a JSON object per line")
            for key in (task.text_column, task.pair_column, task.filter_column):
                if key is not None and key not in record:
                    raise TaskDataError(f"{where}: no field {key!r}; the record has {sorted(record)}")
            if task.filter_column is not None and label_text(record[task.filter_column]) != task.filter_value:
                continue
            label = record.get(task.label_column)
            pair = record[task.pair_column] if task.pair_column else None
            examples.append(TextExample(record[task.text_column], pair, None if label is None else label_text(label), where))
    return examples
