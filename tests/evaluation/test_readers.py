"""Readers on every real shared format: counts, exact texts, labels, parity with independent parsers."""

from __future__ import annotations

import collections
import csv
import xml.etree.ElementTree as ET

import pytest

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.readers import load_task, read_split
from workbench.evaluation.readers.splits import carve
from workbench.evaluation.tagging import to_iob2


def xtreme_pair(path, **extra) -> TaskConfig:
    return TaskConfig(name="x", kind="pair_classification", format="tsv", has_header=False, text_column="0",
                      pair_column="1", label_column="2", train=str(path), dev=str(path), **extra)


def test_xnli_xtreme_tsv(shared_data):
    path = shared_data / "xnli_fr" / "xtreme_dev-fr.tsv"
    examples = read_split(xtreme_pair(path), str(path))
    assert len(examples) == 2490
    assert examples[0].text == "Et il a dit, maman, je suis à la maison."
    assert examples[0].pair == "Il a appelé sa mère dès que le bus scolaire l'a déposé."
    assert examples[0].label == "neutral"
    assert collections.Counter(e.label for e in examples) == {"neutral": 830, "contradiction": 830, "entailment": 830}
    # the XTREME test file has no label column: read as unlabeled, and dropped from scoring with a record of it
    test = shared_data / "xnli_fr" / "xtreme_test-fr.tsv"
    unlabeled = read_split(xtreme_pair(path), str(test))
    assert len(unlabeled) == 5010 and all(e.label is None for e in unlabeled)
    data = load_task(xtreme_pair(path, test=str(test)))
    assert data.tests == {} and data.unlabeled_tests == ["test"]
    assert data.labels == ["contradiction", "entailment", "neutral"]


def test_pawsx_tsv_keeps_quotes_verbatim(shared_data):
    path = shared_data / "pawsx_fr" / "xtreme_dev-fr.tsv"
    examples = read_split(xtreme_pair(path), str(path))
    assert len(examples) == 2000
    assert {e.label for e in examples} == {"0", "1"}
    raw = path.read_text(encoding="utf-8").splitlines()
    quoted = [i for i, line in enumerate(raw) if '"' in line]
    assert quoted, "the file has bare double quotes; a csv-quoting reader would merge lines"
    for i in quoted[:20]:
        assert examples[i].text == raw[i].split("\t")[0]


def test_cls_review_matches_xml_parser_and_label_rule(shared_data):
    for domain in ("books", "dvd", "music"):
        path = shared_data / "cls_fr" / domain / "train.review"
        task = TaskConfig(name="cls", format="cls_review", train=str(path), dev_fraction=0.1, review_fields=["summary", "text"])
        examples = read_split(task, str(path))
        items = ET.parse(path).getroot()
        assert len(examples) == len(items) == 2000
        for example, item in zip(examples, items):
            rating = float(item.find("rating").text)
            assert example.label == ("positive" if rating > 3 else "negative")
            summary, text = (item.find("summary").text or "").strip(), (item.find("text").text or "").strip()
            assert example.text == " ".join(p for p in (summary, text) if p)
    # parity with the shipped tsv conversion (label = rating > 3)
    tsv = list(csv.DictReader(open(shared_data / "cls_fr/books/train.tsv", encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE))
    task = TaskConfig(name="cls", format="cls_review", train="x", dev_fraction=0.1)
    books = read_split(task, str(shared_data / "cls_fr/books/train.review"))
    assert [("positive" if r["label"] == "1" else "negative") for r in tsv] == [e.label for e in books]


def test_allocine_csv_with_quotes(shared_data):
    path = shared_data / "allocine_fr" / "train_data_allocine.csv"
    task = TaskConfig(name="allocine", format="csv", train=str(path), dev=str(path))
    examples = read_split(task, str(path))
    assert len(examples) == 2000
    assert {e.label for e in examples} == {"0", "1"}
    # RFC 4180: a quoted field whose text starts with "" keeps one quote; commas inside stay in the text
    starts = [e.text for e in examples if e.text.startswith('"Monte-Cristo" d')]
    assert len(starts) == 1 and "\"\"" not in starts[0]
    raw = path.read_text(encoding="utf-8")
    assert raw.count("\n\"\"\"Monte-Cristo\"\" d") == 1


def test_sst2_tsv_with_header(shared_data):
    task = TaskConfig(name="sst2", format="tsv", text_column="sentence", train="x", dev="x")
    train = read_split(task, str(shared_data / "sst2_en/train.tsv"))
    dev = read_split(task, str(shared_data / "sst2_en/dev.tsv"))
    assert (len(train), len(dev)) == (67349, 872)
    assert train[0].text.strip() == "hide new secretions from the parental units" and train[0].label == "0"


def test_mnli_jsonl(shared_data):
    task = TaskConfig(name="mnli", kind="pair_classification", format="jsonl", text_column="premise",
                      pair_column="hypothesis", train="x", dev="x")
    examples = read_split(task, str(shared_data / "mnli_en/dev_matched.jsonl"))
    assert len(examples) == 9815
    assert collections.Counter(e.label for e in examples) == {"entailment": 3479, "contradiction": 3213, "neutral": 3123}


def conll_task(**extra) -> TaskConfig:
    return TaskConfig(name="ner", kind="token_classification", metric="entity_f1", format="conll", train="x", dev="x", **extra)


def test_conll2003_iob1_converts_to_the_iob2_release(shared_data):
    """The original IOB1 files, converted, equal the independently published IOB2 version sentence by sentence."""
    for split in ("testa", "testb"):  # (train converts identically too; left out to keep the test fast)
        iob1 = read_split(conll_task(tag_scheme="iob1"), str(shared_data / "conll2003_en/iob1_original" / f"eng.{split}"))
        iob2 = read_split(conll_task(tag_scheme="iob2"), str(shared_data / "conll2003_en/iob2" / f"eng.{split}"))
        assert len(iob1) == len(iob2) > 3000
        assert [s.tokens for s in iob1] == [s.tokens for s in iob2]
        assert [s.tags for s in iob1] == [s.tags for s in iob2]


def test_wikineural_and_panx(shared_data):
    wikineural = read_split(conll_task(token_column=1, tag_column=2), str(shared_data / "ner_fr/wikineural_fr/val.conllu"))
    assert len(wikineural) == 12600
    assert wikineural[0].tokens[:3] == ("Certaines", "restent", "temporaires")
    panx_dev = read_split(conll_task(), str(shared_data / "ner_fr/wikiann_panx_fr/xtreme_dev-fr.tsv"))
    assert len(panx_dev) == 10000 and panx_dev[0].tags == ("O",) * 5 + ("B-PER", "I-PER")
    panx_test = read_split(conll_task(), str(shared_data / "ner_fr/wikiann_panx_fr/xtreme_test-fr.tsv"))
    assert all(s.tags is None for s in panx_test)


def test_europeana_iob1_without_sentence_breaks(shared_data):
    path = shared_data / "ner_fr/europeana_fr_bnf/enp_FR.bnf.bio"
    sentences = read_split(conll_task(tag_scheme="iob1", tag_column=1, sentence_break_tokens=[".", "!", "?"]), str(path))
    assert sum(len(s.tokens) for s in sentences) == 205916
    assert len(sentences) > 5000 and all(s.tokens[-1] in ".!?" for s in sentences[:-1])
    for sentence in sentences:  # IOB2: an entity never starts with I-
        for previous, tag in zip(("O",) + sentence.tags, sentence.tags):
            if tag.startswith("I-"):
                assert previous[2:] == tag[2:]
    assert sentences[0].tags[:2] == ("B-PER", "I-PER")  # "Emmanuel DESOLES" was I-PER I-PER in IOB1


def test_tag_scheme_conversions():
    assert to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"], "iob1") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"]
    assert to_iob2(["PER", "PER", "O", "LOC", "ORG", "ORG"], "plain") == ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "I-ORG"]
    with pytest.raises(TaskDataError, match="f.conll:3.*'X-PER'"):
        to_iob2(["O", "X-PER"], "iob2", "f.conll:3")


def test_squad_json_official_dev_and_piaf(shared_data):
    task = TaskConfig(name="q", kind="extractive_qa", metric="squad", format="squad_json", train="x", dev="x")
    squad = read_split(task, str(shared_data / "squad_v1.1_en/dev-v1.1.json"))
    assert len(squad) == 10570 and sum(len(e.answers) for e in squad) == 34726
    piaf = read_split(task, str(shared_data / "piaf_fr/piaf-v1.0.json"))
    assert len(piaf) == 3835
    for example in piaf:  # every answer points at its text (the two misaligned ones are re-anchored)
        for answer in example.answers:
            assert example.context[answer.start : answer.start + len(answer.text)] == answer.text


def test_carve_is_deterministic_disjoint_and_keeps_articles_whole(shared_data):
    task = TaskConfig(name="q", kind="extractive_qa", metric="squad", format="squad_json",
                      train=str(shared_data / "piaf_fr/piaf-v1.0.json"), dev_fraction=0.1, test_fraction=0.1)
    first, second = load_task(task), load_task(task)
    assert [e.id for e in first.dev] == [e.id for e in second.dev]
    titles = [{e.title for e in part} for part in (first.train, first.dev, first.tests["test"])]
    assert not (titles[0] & titles[1]) and not (titles[0] & titles[2]) and not (titles[1] & titles[2])
    assert len(first.train) + len(first.dev) + len(first.tests["test"]) == 3835
    rest, (held,) = carve(list(range(1000)), [0.2], seed=3)  # plain examples: exact fraction
    assert len(held) == 200 and sorted(rest + held) == list(range(1000)) and held == sorted(held)


def test_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\t1\nonly one column\n", encoding="utf-8")
    task = TaskConfig(name="x", kind="pair_classification", format="tsv", has_header=False, text_column="0",
                      pair_column="1", label_column="2", train=str(bad), dev=str(bad))
    with pytest.raises(TaskDataError, match=r"bad.tsv:2: 1 columns"):
        read_split(task, str(bad))
    with pytest.raises(TaskDataError, match="does not exist"):
        read_split(task, str(tmp_path / "missing.tsv"))
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [', encoding="utf-8")
    qa = TaskConfig(name="q", kind="extractive_qa", metric="squad", format="squad_json", train="x", dev="x")
    with pytest.raises(TaskDataError, match=r"broken.json:1: not valid JSON"):
        read_split(qa, str(broken))
    labels = tmp_path / "labels.tsv"
    labels.write_text("text\tlabel\ngood\tpos\nbad\tneg\n", encoding="utf-8")
    strict = TaskConfig(name="s", format="tsv", train=str(labels), dev=str(labels), labels=["pos", "negative"])
    with pytest.raises(TaskDataError, match=r"labels.tsv:3: label 'neg' is not one of"):
        load_task(strict)
    empty_label = tmp_path / "empty_label.csv"
    empty_label.write_text("text,label\ngood,pos\nbad, \n", encoding="utf-8")  # an empty cell is not a class
    with pytest.raises(TaskDataError, match=r"empty_label.csv:3: the label \('label', task.label_column\) is empty"):
        read_split(TaskConfig(name="e", format="csv", train=str(empty_label), dev=str(empty_label)), str(empty_label))
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    carved = TaskConfig(name="t", format="csv", train=str(tiny), dev_fraction=0.1, test_fraction=0.1)
    with pytest.raises(TaskDataError, match=r"tiny.csv holds 2 example\(s\), all carved out for test \(1, task.test_fraction=0.1\)"
                       r" and dev \(1, task.dev_fraction=0.1\): none is left to train on"):
        load_task(carved)


def test_datasets_folder_with_class_labels_and_integer_tags(tmp_path, shared_data):
    datasets = pytest.importorskip("datasets")
    rows = [line.split("\t") for line in (shared_data / "xnli_fr/xtreme_dev-fr.tsv").read_text(encoding="utf-8").splitlines()[:30]]
    names = ["entailment", "neutral", "contradiction"]
    features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=names)})
    split = datasets.Dataset.from_dict({"premise": [r[0] for r in rows], "hypothesis": [r[1] for r in rows],
                                        "label": [names.index(r[2]) for r in rows]}, features=features)
    datasets.DatasetDict({"train": split, "validation": split}).save_to_disk(str(tmp_path / "xnli"))
    task = TaskConfig(name="xnli", kind="pair_classification", format="datasets", hub_name=str(tmp_path / "xnli"),
                      train="train", dev="validation", text_column="premise", pair_column="hypothesis")
    data = load_task(task)
    assert [(e.text, e.pair, e.label) for e in data.train] == [(r[0], r[1], r[2]) for r in rows]

    # WikiNER-style: integer tags without names, plain scheme; task.labels names them
    ner = datasets.Dataset.from_dict({"tokens": [["Jean", "Dupont", "vit", "à", "Paris"]], "ner_tags": [[2, 2, 0, 0, 1]]})
    datasets.DatasetDict({"train": ner, "validation": ner}).save_to_disk(str(tmp_path / "wikiner"))
    task = TaskConfig(name="wikiner", kind="token_classification", metric="entity_f1", format="datasets", tag_scheme="plain",
                      hub_name=str(tmp_path / "wikiner"), train="train", dev="validation", text_column="tokens",
                      label_column="ner_tags", labels=["O", "LOC", "PER"])
    data = load_task(task)
    assert data.train[0].tags == ("B-PER", "I-PER", "O", "O", "B-LOC")
    assert data.labels == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    with pytest.raises(TaskDataError, match="no split 'test'"):
        read_split(task, "test")
