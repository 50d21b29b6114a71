"""Reading the user's files for custom tasks: multi-label columns (jsonl lists, delimited strings, hub label ids),
and one clear error per bad input (absent label column, unseen label, empty file, malformed jsonl line, ...)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.config.choices import ConfigError
from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import MultiLabelExample
from workbench.evaluation.readers import load_task, read_split


def multilabel(**extra) -> TaskConfig:
    settings = dict(name="tags", kind="multilabel_classification", metric="micro_f1", format="jsonl", label_column="labels",
                    train="x", dev="x")
    return TaskConfig(**{**settings, **extra})


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def jsonl(path: Path, records) -> str:
    return write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def test_multilabel_labels_from_jsonl_lists_strings_and_csv_cells(tmp_path):
    path = jsonl(tmp_path / "a.jsonl", [
        {"text": "un", "labels": ["b", "a", "b"]},  # repeats collapse, names sorted
        {"text": "deux", "labels": []},  # no label applies
        {"text": "trois", "labels": "c, a"},  # a string is cut at task.label_delimiter
        {"text": "quatre", "labels": [3]},  # numbers are names too
        {"text": "cinq", "labels": None},  # unlabeled
    ])
    examples = read_split(multilabel(), path)
    assert [e.labels for e in examples] == [("a", "b"), (), ("a", "c"), ("3",), None]
    assert all(isinstance(e, MultiLabelExample) for e in examples) and examples[2].source == f"{path}:3"

    csv_path = write(tmp_path / "a.csv", 'text,tags\n"x, y",python|pandas\nz,\nw,sql|\n')
    task = multilabel(format="csv", label_column="tags", label_delimiter="|")
    assert [(e.text, e.labels) for e in read_split(task, csv_path)] == [("x, y", ("pandas", "python")), ("z", ()), ("w", ("sql",))]
    tsv_path = write(tmp_path / "a.tsv", "text\tpair\ttags\nx\ty\ta;b\n")
    task = multilabel(format="tsv", label_column="tags", label_delimiter=";", pair_column="pair")
    assert [(e.text, e.pair, e.labels) for e in read_split(task, tsv_path)] == [("x", "y", ("a", "b"))]


def test_multilabel_label_set_comes_from_train(tmp_path):
    train = jsonl(tmp_path / "train.jsonl", [{"text": "a", "labels": ["sport"]}, {"text": "b", "labels": ["news", "sport"]}])
    dev = jsonl(tmp_path / "dev.jsonl", [{"text": "c", "labels": ["news"]}, {"text": "d", "labels": []}])
    data = load_task(multilabel(train=train, dev=dev))
    assert data.labels == ["news", "sport"] and [e.labels for e in data.dev] == [("news",), ()]
    test = jsonl(tmp_path / "test.jsonl", [{"text": "e", "labels": ["sport"]}, {"text": "f", "labels": ["news", "tech"]}])
    with pytest.raises(TaskDataError, match=rf"test.jsonl:2: label 'tech' is not one of \['news', 'sport'\] \(the labels of the training split {train}\)"):
        load_task(multilabel(train=train, dev=dev, test=test))
    data = load_task(multilabel(train=train, dev=dev, test=test, labels=["news", "sport", "tech"]))  # or list them all
    assert data.labels == ["news", "sport", "tech"]


def test_multilabel_from_a_local_datasets_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"),
                                  "labels": datasets.Sequence(datasets.ClassLabel(names=["joy", "anger", "fear"]))})
    split = datasets.Dataset.from_dict({"text": ["a", "b"], "labels": [[0, 2], []]}, features=features)
    datasets.DatasetDict({"train": split, "validation": split}).save_to_disk(str(tmp_path / "emotions"))
    data = load_task(multilabel(format="datasets", hub_name=str(tmp_path / "emotions"), train="train", dev="validation"))
    assert [e.labels for e in data.train] == [("fear", "joy"), ()] and data.labels == ["fear", "joy"]


def test_absent_label_column_names_the_file_and_the_columns(tmp_path):
    csv_path = write(tmp_path / "reviews.csv", "review,stars\nbien,5\n")
    task = TaskConfig(name="t", format="csv", text_column="review", label_column="label", train=csv_path, dev=csv_path)
    with pytest.raises(TaskDataError, match=r"reviews.csv: no column 'label' \(task.label_column\); the header has \['review', 'stars'\]"):
        load_task(task)
    path = jsonl(tmp_path / "train.jsonl", [{"text": "a", "tags": ["x"]}])
    with pytest.raises(TaskDataError, match=r"train.jsonl:1: no field 'labels' \(task.label_column\); the record has \['tags', 'text'\]"):
        load_task(multilabel(train=path, dev=path))
    with pytest.raises(TaskDataError, match=r"train.jsonl:1: no field 'body' \(task.text_column\)"):
        load_task(multilabel(train=path, dev=path, text_column="body", label_column="tags"))


def test_unseen_label_at_test_time_names_file_line_and_label(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\na,pos\nb,neg\n")
    test = write(tmp_path / "test.csv", "text,label\nc,pos\nd,neutral\n")
    task = TaskConfig(name="t", format="csv", train=train, dev=train, test=test)
    with pytest.raises(TaskDataError, match=r"test.csv:3: label 'neutral' is not one of \['neg', 'pos'\]"):
        load_task(task)


@pytest.mark.parametrize("fmt,kind,metric,name", [
    ("csv", "classification", "accuracy", "train.csv"),
    ("tsv", "classification", "accuracy", "train.tsv"),
    ("jsonl", "multilabel_classification", "micro_f1", "train.jsonl"),
    ("conll", "token_classification", "entity_f1", "train.conll"),
    ("squad_json", "extractive_qa", "squad", "train.json"),
])
def test_empty_file_is_one_clear_error(tmp_path, fmt, kind, metric, name):
    path = write(tmp_path / name, "")
    task = TaskConfig(name="t", kind=kind, metric=metric, format=fmt, train=path, dev_fraction=0.1)
    with pytest.raises(TaskDataError, match=rf"{name}: empty file; point the task's train/dev/test at a file with examples"):
        load_task(task)


def test_files_without_examples(tmp_path):
    header_only = write(tmp_path / "header.csv", "text,label\n\n")
    with pytest.raises(TaskDataError, match=r"header.csv: no example; the split holds only blank lines or a header"):
        load_task(TaskConfig(name="t", format="csv", train=header_only, dev_fraction=0.1))
    blank = write(tmp_path / "blank.jsonl", "\n  \n")
    with pytest.raises(TaskDataError, match=r"blank.jsonl: no example"):
        load_task(multilabel(train=blank, dev=blank))
    rows = write(tmp_path / "rows.csv", "text,label,lang\na,x,en\nb,y,en\n")
    with pytest.raises(TaskDataError, match=r"rows.csv: no example with lang == 'fr'"):
        load_task(TaskConfig(name="t", format="csv", train=rows, dev=rows, filter_column="lang", filter_value="fr"))


def test_malformed_jsonl_lines_name_the_file_and_line(tmp_path):
    good = {"text": "a", "labels": ["x"]}
    path = write(tmp_path / "dev.jsonl", json.dumps(good) + "\n\n" + '{"text": "b", "labels": ["x"]\n')
    with pytest.raises(TaskDataError, match=r"dev.jsonl:3: not valid JSON \(Expecting ',' delimiter at column 30\)"):
        read_split(multilabel(), path)
    with pytest.raises(TaskDataError, match=r"dev.jsonl:1: expected a JSON object per line, got list"):
        read_split(multilabel(), write(tmp_path / "dev.jsonl", "[1, 2]\n"))
    with pytest.raises(TaskDataError, match=r"dev.jsonl:1: label \{'a': 1\} in \[\{'a': 1\}\] is not a label name"):
        read_split(multilabel(), jsonl(tmp_path / "dev.jsonl", [{"text": "a", "labels": [{"a": 1}]}]))
    with pytest.raises(TaskDataError, match=r"dev.jsonl:1: labels \{'a': 1\} are neither a list nor a string of labels separated by ','"):
        read_split(multilabel(), jsonl(tmp_path / "dev.jsonl", [{"text": "a", "labels": {"a": 1}}]))
    with pytest.raises(TaskDataError, match=r"dev.jsonl:2: the value of 'text' \(task.text_column\) is 7, not a text"):
        read_split(multilabel(), jsonl(tmp_path / "dev.jsonl", [good, {"text": 7, "labels": []}]))


def test_custom_task_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="kind=multilabel_classification is scored with metric=micro_f1 | macro_f1 | weighted_f1, not accuracy"):
        TaskConfig(name="t", kind="multilabel_classification", format="jsonl", dev="d")
    with pytest.raises(ConfigError, match="kind=classification is scored with metric=accuracy, not micro_f1"):
        TaskConfig(name="t", metric="micro_f1", dev="d")
    with pytest.raises(ConfigError, match="format=conll does not hold kind=classification examples; use format=tsv | csv"):
        TaskConfig(name="t", format="conll", dev="d")
    with pytest.raises(ConfigError, match="format=cls_review does not hold kind=multilabel_classification"):
        multilabel(format="cls_review")
    with pytest.raises(ConfigError, match="task.threshold applies to kind=multilabel_classification only"):
        TaskConfig(name="t", format="csv", dev="d", threshold=0.5)
    with pytest.raises(ConfigError, match=r"task.threshold \(task tags\)=1.5 must be between 0 and 1"):
        multilabel(threshold=1.5)
    with pytest.raises(ConfigError, match="task.label_delimiter must not be empty"):
        multilabel(label_delimiter="")
