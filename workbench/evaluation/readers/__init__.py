"""Task readers: every original format (and ``datasets``) into typed examples, plus the task's label list.

``load_task(task, base_dir)`` is the one entry point; it dispatches on
``task.format`` with an explicit table (no registry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from workbench.artifacts.hashing import sha256_file
from workbench.artifacts.provenance import config_hash
from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import (
    Example, MultiLabelExample, QAExample, TaggedSentence, TextExample, is_labeled, label_set,
)
from workbench.evaluation.readers.cls_review import read_cls_review
from workbench.evaluation.readers.common import resolve
from workbench.evaluation.readers.conll import read_conll
from workbench.evaluation.readers.delimited import read_delimited
from workbench.evaluation.readers.hub import read_hub
from workbench.evaluation.readers.jsonl import read_jsonl
from workbench.evaluation.readers.splits import carve, first
from workbench.evaluation.readers.squad_json import read_squad_json
from workbench.evaluation.tagging import split_tag

_FILE_READERS: Dict[str, Callable[[Path, TaskConfig], List[Example]]] = {
    "tsv": read_delimited,
    "csv": read_delimited,
    "jsonl": read_jsonl,
    "cls_review": read_cls_review,
    "conll": read_conll,
    "squad_json": lambda path, task: read_squad_json(path),
}

_EXPECTED = {
    "classification": TextExample,
    "pair_classification": TextExample,
    "multilabel_classification": MultiLabelExample,
    "token_classification": TaggedSentence,
    "extractive_qa": QAExample,
}


@dataclass
class TaskData:
    """The examples of one task: train, dev and every labeled evaluation split, plus the label names."""

    train: List[Example]
    dev: List[Example]
    tests: Dict[str, List[Example]] = field(default_factory=dict)  # "test", and task.extra_test names
    labels: List[str] = field(default_factory=list)  # classification: class names; NER: IOB2 tags ("O" first)
    unlabeled_tests: List[str] = field(default_factory=list)  # test splits skipped because they have no gold labels

    def splits(self) -> Dict[str, List[Example]]:
        return {"dev": self.dev, **self.tests}


def read_split(task: TaskConfig, location: str, base_dir: Optional[Path] = None) -> List[Example]:
    """Examples of one split: a local file (``task.format``) or a hub split (``format=datasets``)."""
    if task.format == "datasets":
        where = f"{task.hub_name}[{location}]"
        examples = read_hub(task, location, base_dir)
    else:
        path = resolve(location, base_dir)
        where = str(path)
        if path.stat().st_size == 0:
            raise TaskDataError(f"{path}: empty file; point the task's train/dev/test at a file with examples")
        examples = _FILE_READERS[task.format](path, task)
    if not examples:
        if task.filter_column:
            raise TaskDataError(f"{where}: no example with {task.filter_column} == {task.filter_value!r} (task.filter_column/filter_value)")
        raise TaskDataError(f"{where}: no example; the split holds only blank lines or a header (task.format={task.format})")
    expected = _EXPECTED[task.kind]
    if not isinstance(examples[0], expected):
        raise TaskDataError(f"task {task.name}: format={task.format} gives {type(examples[0]).__name__} examples, not the {expected.__name__} kind={task.kind} needs")
    if task.kind == "pair_classification":
        for example in examples:
            if example.pair is None:
                raise TaskDataError(f"{example.source}: no second text (task.pair_column={task.pair_column!r})")
    return examples


def _gold_labels(example: Example) -> tuple:
    if isinstance(example, TextExample):
        return () if example.label is None else (example.label,)
    if isinstance(example, MultiLabelExample):
        return example.labels or ()
    return ()


def _labels(task: TaskConfig, data: TaskData) -> List[str]:
    if task.kind == "extractive_qa":
        return []
    if task.kind == "token_classification":
        types = set()
        for tag in label_set(data.train):
            types.add(split_tag(tag)[1])
        types.discard(None)
        if not types:
            raise TaskDataError(f"task {task.name}: the training split has no entity")
        return ["O"] + [f"{prefix}-{kind}" for kind in sorted(types) for prefix in ("B", "I")]
    labels = list(task.labels) or label_set(data.train)
    if len(labels) < 2:
        raise TaskDataError(f"task {task.name}: {len(labels)} label(s) {labels} in train; classification needs at least two")
    known = set(labels)
    origin = "task.labels" if task.labels else f"the labels of the training split {task.train}"
    for split in (data.train, *data.splits().values()):
        for example in split:
            for label in _gold_labels(example):
                if label not in known:
                    raise TaskDataError(
                        f"{example.source}: label {label!r} is not one of {labels} ({origin});"
                        " fix the label, or list every label in task.labels"
                    )
    return labels


def task_files_hash(task: TaskConfig, base_dir: Optional[Path] = None) -> str:
    """Content hash of the task's local files (train, dev, test, extra tests): edited files make another job.
    Empty for hub datasets (their name and split identify them) and for splits that are not set."""
    if task.format == "datasets":
        return ""
    locations = {"train": task.train, "dev": task.dev, "test": task.test, **task.extra_test}
    digests = {role: sha256_file(resolve(location, base_dir)) for role, location in sorted(locations.items()) if location}
    return config_hash(digests) if digests else ""


def _unlabeled(examples: List[Example]) -> str:
    if not examples:
        return "no example"
    first = next(e for e in examples if not is_labeled([e]))
    return f"{first.source} has no gold label"


def load_task(task: TaskConfig, base_dir: Optional[Path] = None) -> TaskData:
    if task.train is None:
        raise TaskDataError(
            f"task {task.name}: task.train is not set; name the training file on the command line"
            " (task.train=path/to/train.csv), or the hub split with format=datasets"
        )
    train = read_split(task, task.train, base_dir)
    fractions = [task.test_fraction if task.test is None else 0.0, task.dev_fraction if task.dev is None else 0.0]
    read = len(train)
    train, (carved_test, carved_dev) = carve(train, fractions, task.split_seed, task.carve_group)
    if read and not train:
        carved = " and ".join(
            f"{name} ({len(split)}, task.{name}_fraction={fraction})"
            for name, split, fraction in (("test", carved_test, fractions[0]), ("dev", carved_dev, fractions[1]))
            if split
        )
        whole = " (QA examples are held out by whole article: give more articles)" if task.kind == "extractive_qa" else ""
        raise TaskDataError(
            f"task {task.name}: {task.train} holds {read} example(s), all carved out for {carved}: none is left to"
            f" train on{whole}; add examples, or give the dev and test files (task.dev, task.test)"
        )
    dev = read_split(task, task.dev, base_dir) if task.dev is not None else carved_dev
    tests: Dict[str, List[Example]] = {}
    if task.test is not None:
        tests["test"] = read_split(task, task.test, base_dir)
    elif carved_test:
        tests["test"] = carved_test
    for name, location in task.extra_test.items():
        tests[name] = read_split(task, location, base_dir)
    if not is_labeled(train):
        raise TaskDataError(f"task {task.name}: the training split {task.train} is unlabeled ({_unlabeled(train)})")
    if not is_labeled(dev):
        raise TaskDataError(
            f"task {task.name}: the dev split {task.dev or 'carved from train'} is unlabeled ({_unlabeled(dev)});"
            " model selection needs gold labels"
        )
    unlabeled = [name for name, split in tests.items() if not is_labeled(split)]
    for name in unlabeled:  # XTREME-style test files without gold labels cannot be scored
        del tests[name]
    data = TaskData(
        first(train, task.max_train_examples),
        first(dev, task.max_dev_examples if task.max_dev_examples is not None else task.max_eval_examples),
        {name: first(split, task.max_test_examples if task.max_test_examples is not None else task.max_eval_examples)
         for name, split in tests.items()},
        unlabeled_tests=unlabeled,
    )
    data.labels = _labels(task, data)
    return data
