"""Tab- and comma-separated classification files (XNLI/PAWS-X/SST-2 tsv, Allociné csv).

Columns are addressed by header name, or by 0-based index when the file has no
header (the XTREME XNLI/PAWS-X files). A headerless file whose rows all lack the
label column is read as unlabeled (the XTREME test files); a file where only some
rows lack it is an error naming the line, and so is a header without the label
column (a misspelled ``task.label_column``). Multi-label cells hold the labels
joined by ``task.label_delimiter``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import List, Optional

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import Example
from workbench.evaluation.readers.common import text_example

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def column_index(name: Optional[str], header: Optional[List[str]], path: Path, key: str) -> Optional[int]:
    """The 0-based column of ``task.<key>``: its header name (or a number), or its index without a header."""
    if name is None:
        return None
    if header is None:
        try:
            return int(name)
        except ValueError:
            raise TaskDataError(
                f"{path}: task.{key}={name!r} must be a 0-based column index because task.has_header=false"
            ) from None
    if name in header:
        return header.index(name)
    if name.lstrip("-").isdigit():
        return int(name)
    raise TaskDataError(f"{path}: no column {name!r} (task.{key}); the header has {header}")


def read_delimited(path: Path, task: TaskConfig) -> List[Example]:
    delimiter = "\t" if task.format == "tsv" else ","
    # tsv files quote nothing (XNLI hypotheses contain bare double quotes); csv files follow RFC 4180.
    quoting = csv.QUOTE_NONE if task.format == "tsv" else csv.QUOTE_MINIMAL
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        header = None
        if task.has_header:
            header = next(rows, None)
            if header is None:
                raise TaskDataError(f"{path}: empty file (task.has_header=true expects a header row)")
            header = [cell.strip() for cell in header]
        text_i = column_index(task.text_column, header, path, "text_column")
        pair_i = column_index(task.pair_column, header, path, "pair_column")
        label_i = column_index(task.label_column, header, path, "label_column")
        filter_i = column_index(task.filter_column, header, path, "filter_column")
        raw = []
        for row in rows:
            line = rows.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            raw.append((line, row))
    labeled = label_i is not None and any(len(row) > label_i for _, row in raw)
    examples = []
    needed = max(i for i in (text_i, pair_i, filter_i) if i is not None)
    for line, row in raw:
        where = f"{path}:{line}"
        if len(row) <= needed or (labeled and len(row) <= label_i):
            raise TaskDataError(
                f"{where}: {len(row)} columns, expected at least {max(needed, label_i if labeled else 0) + 1}"
                f" ({'tab' if delimiter == chr(9) else 'comma'}-separated; check task.format and the column settings)"
            )
        if filter_i is not None and row[filter_i].strip() != task.filter_value:
            continue
        label = row[label_i] if labeled else None
        pair = row[pair_i] if pair_i is not None else None
        examples.append(text_example(task, row[text_i], pair, label, where))
    return examples
