"""The examples ``predict`` reads: text lines, tsv/csv/jsonl columns (read as a stream), CoNLL tokens or SQuAD json
(read whole, through the task readers). Labels in the file, if any, are ignored."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator, Optional

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import Example, MultiLabelExample, TaggedSentence, TextExample
from workbench.evaluation.readers.conll import read_conll
from workbench.evaluation.readers.delimited import column_index
from workbench.evaluation.readers.squad_json import read_squad_json
from workbench.inference.model_loading import InferenceError

EXTENSIONS = {".txt": "text", ".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".conll": "conll", ".iob": "conll",
              ".bio": "conll", ".json": "squad_json"}


def input_format(path: Path, given: Optional[str]) -> str:
    if given is not None:
        return given
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise InferenceError(f"predict.input_file={path}: cannot tell the format from {suffix or 'no extension'!r};"
                             f" set predict.format=text|tsv|csv|jsonl|conll|squad_json")
    return EXTENSIONS[suffix]


def _example(task: TaskConfig, text: object, pair: object, where: str) -> Example:
    for key, value in (("text_column", text), ("pair_column", pair)):
        if (key == "text_column" or task.pair_column) and not isinstance(value, str):
            raise InferenceError(f"{where}: the value of {getattr(task, key)!r} (predict.{key}) is {value!r}, not a text")
    if task.kind == "multilabel_classification":
        return MultiLabelExample(text, pair, None, where)  # type: ignore[arg-type]
    return TextExample(text, pair, None, where)  # type: ignore[arg-type]


def _lines(path: Path) -> Iterator[tuple]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        number = 0
        while True:
            try:
                line = handle.readline()
            except UnicodeDecodeError as error:
                raise InferenceError(f"{path}:{number + 1}: not UTF-8 ({error.reason}); convert the file to UTF-8") from None
            if not line:
                return
            number += 1
            yield number, line


def _text_lines(path: Path, task: TaskConfig) -> Iterator[Example]:
    for number, line in _lines(path):
        if line.strip() and task.kind == "token_classification":  # one sentence per line, words split at white space
            yield TaggedSentence(tuple(line.split()), None, f"{path}:{number}")
        elif line.strip():
            yield _example(task, line.strip(), None, f"{path}:{number}")


def _jsonl(path: Path, task: TaskConfig) -> Iterator[Example]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InferenceError(f"{where}: not valid JSON ({error.msg} at column {error.colno}); jsonl holds one object per line") from None
        if not isinstance(record, dict):
            raise InferenceError(f"{where}: expected a JSON object, got {type(record).__name__}")
        for key in ("text_column", "pair_column"):
            name = getattr(task, key)
            if name is not None and name not in record:
                raise InferenceError(f"{where}: no field {name!r} (predict.{key}); the record has {sorted(record)}")
        yield _example(task, record[task.text_column], record[task.pair_column] if task.pair_column else None, where)


def _delimited(path: Path, task: TaskConfig) -> Iterator[Example]:
    delimiter = "\t" if task.format == "tsv" else ","
    quoting = csv.QUOTE_NONE if task.format == "tsv" else csv.QUOTE_MINIMAL  # as the task reader
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        try:
            header = [cell.strip() for cell in next(rows)] if task.has_header else None
            # the task reader's column lookup; its messages name the task.* key, here the same key of predict.*
            text_i = column_index(task.text_column, header, path, "text_column")
            pair_i = column_index(task.pair_column, header, path, "pair_column")
        except StopIteration:
            raise InferenceError(f"{path}: empty file (predict.has_header=true expects a header row)") from None
        except TaskDataError as error:
            raise InferenceError(str(error).replace("(task.", "(predict.").replace("task.has_header", "predict.has_header")) from None
        needed = max(i for i in (text_i, pair_i) if i is not None)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except UnicodeDecodeError as error:
                raise InferenceError(f"{path}:{rows.line_num + 1}: not UTF-8 ({error.reason}); convert the file to UTF-8") from None
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            where = f"{path}:{rows.line_num}"
            if len(row) <= needed:
                raise InferenceError(f"{where}: {len(row)} columns, expected at least {needed + 1}"
                                     f" ({'tab' if delimiter == chr(9) else 'comma'}-separated; check predict.format and the columns)")
            yield _example(task, row[text_i], row[pair_i] if pair_i is not None else None, where)


def read_examples(path: Path, fmt: str, task: TaskConfig) -> Iterator[Example]:
    """The examples of ``path`` in file order (``task``: the model's settings with the file's format and columns)."""
    if not path.is_file():
        raise InferenceError(f"predict.input_file={path}: the file does not exist")
    try:
        if fmt == "text":
            yield from _text_lines(path, task)
        elif fmt == "jsonl":
            yield from _jsonl(path, task)
        elif fmt in ("tsv", "csv"):
            yield from _delimited(path, task)
        elif fmt == "conll":
            yield from read_conll(path, task)
        else:
            yield from read_squad_json(path)
    except TaskDataError as error:  # the task readers' messages name the file and line
        raise InferenceError(str(error)) from None
