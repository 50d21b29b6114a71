"""Tasks loaded through ``datasets``: a hub name (cached or downloadable) or a local dataset folder.

Integer labels are turned into names with the dataset's ``ClassLabel`` feature,
or with ``task.labels`` when the dataset stores bare integers (WikiNEuRal).
A label of -1 (GLUE test splits) means unlabeled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Sequence

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import Example, QAExample, TaggedSentence
from workbench.evaluation.readers.common import label_text, text_example
from workbench.evaluation.readers.squad_json import anchor_answer, warn_reanchored
from workbench.evaluation.tagging import to_iob2


def load_hub_split(task: TaskConfig, split: str, base_dir: Optional[Path]) -> Any:
    import datasets  # heavy import, only for hub tasks

    name = task.hub_name
    local = Path(name).expanduser()
    if not local.is_absolute() and base_dir is not None:
        local = Path(base_dir) / local
    try:
        if local.is_dir() and ((local / "dataset_dict.json").exists() or (local / "state.json").exists()):
            loaded = datasets.load_from_disk(str(local))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise TaskDataError(f"dataset folder {local} has no split {split!r}; it has {sorted(loaded)}")
                return loaded[split]
            return loaded
        return datasets.load_dataset(name, task.hub_subset, split=split)
    except TaskDataError:
        raise
    except Exception as error:  # datasets raises many types (offline, missing split, gated...): one clear message
        raise TaskDataError(
            f"task {task.name}: cannot load split {split!r} of hub dataset {name!r}"
            f"{' subset ' + repr(task.hub_subset) if task.hub_subset else ''}: {type(error).__name__}: {error}."
            " Download it once with network access (it is then cached), or point the task at local files"
            " (task.format=tsv/csv/conll/squad_json and task.train/dev/test)"
        ) from None


def _names(feature: Any) -> Optional[List[str]]:
    names = getattr(feature, "names", None)
    if names:
        return list(names)
    inner = getattr(feature, "feature", None)
    if inner is not None:
        return _names(inner)
    if isinstance(feature, list) and feature:
        return _names(feature[0])
    return None


def _label_name(value: Any, names: Optional[Sequence[str]], task: TaskConfig, where: str) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return None if value is None else label_text(value)
    if value < 0:
        return None
    names = names or task.labels
    if not names:
        return str(value)
    if value >= len(names):
        raise TaskDataError(f"{where}: label {value} but only {len(names)} label names {list(names)} (task.labels)")
    return names[value]


def read_hub(task: TaskConfig, split: str, base_dir: Optional[Path]) -> List[Example]:
    dataset = load_hub_split(task, split, base_dir)
    where = f"{task.hub_name}[{split}]"
    columns = set(dataset.column_names)
    if task.kind == "extractive_qa":
        needed = {"id", "question", "context", "answers"}
    elif task.kind == "token_classification":
        needed = {task.text_column, task.label_column}
    else:
        needed = {task.text_column, task.label_column} | ({task.pair_column} if task.pair_column else set())
    if task.filter_column:
        needed.add(task.filter_column)
    missing = sorted(needed - columns)
    if missing:
        raise TaskDataError(f"{where}: no column(s) {missing}; the dataset has {sorted(columns)} (fix task.*_column)")
    label_names = _names(dataset.features.get(task.label_column)) if task.label_column in columns else None

    examples: List[Example] = []
    moved: List[str] = []
    moved_ids: List[str] = []
    for index, record in enumerate(dataset):
        here = f"{where} row {index}"
        if task.filter_column and label_text(record[task.filter_column]) != task.filter_value:
            continue
        if task.kind == "extractive_qa":
            answers = record["answers"] or {"text": [], "answer_start": []}
            before = len(moved)
            anchored = tuple(
                anchor_answer(record["context"], text, int(start), here, moved)
                for text, start in zip(answers["text"], answers["answer_start"])
            )
            if len(moved) > before:
                moved_ids.append(str(record["id"]))
            examples.append(
                QAExample(str(record["id"]), str(record.get("title", "")), record["question"], record["context"], anchored, here)
            )
        elif task.kind == "token_classification":
            raw = record[task.label_column]
            tags = [_label_name(tag, label_names, task, here) for tag in raw] if raw is not None else None
            if tags is not None and any(tag is None for tag in tags):
                tags = None
            iob2 = tuple(to_iob2(tags, task.tag_scheme, here)) if tags is not None else None
            examples.append(TaggedSentence(tuple(record[task.text_column]), iob2, here))
        else:
            raw = record[task.label_column]
            if task.kind == "multilabel_classification" and isinstance(raw, (list, tuple)):
                label = [_label_name(value, label_names, task, here) for value in raw]
                if any(name is None for name in label):
                    raise TaskDataError(f"{here}: negative label id in {raw!r}; a multi-label list holds label ids >= 0")
            else:
                label = _label_name(raw, label_names, task, here)
            pair = record[task.pair_column] if task.pair_column else None
            examples.append(text_example(task, record[task.text_column], pair, label, here))
    warn_reanchored(where, moved, moved_ids)
    return examples

