"""Metrics against their references: seqeval on real CoNLL-2003 tags, the official SQuAD v1.1 script on real dev data."""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np
import pytest

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.metrics import score_split
from workbench.evaluation.metrics.accuracy import accuracy
from workbench.evaluation.metrics.entity_f1 import entities, entity_scores
from workbench.evaluation.metrics.squad import normalize_french, normalize_official, squad_scores
from workbench.evaluation.readers import read_split


# ---- the official SQuAD v1.1 evaluation script (evaluate-v1.1.py), reimplemented verbatim as the reference ----
def ref_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def ref_f1_score(prediction, ground_truth):
    prediction_tokens = ref_normalize_answer(prediction).split()
    ground_truth_tokens = ref_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def ref_exact_match_score(prediction, ground_truth):
    return ref_normalize_answer(prediction) == ref_normalize_answer(ground_truth)


def ref_evaluate(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                ground_truths = [x["text"] for x in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact_match += max(ref_exact_match_score(prediction, gt) for gt in ground_truths)
                f1 += max(ref_f1_score(prediction, gt) for gt in ground_truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def _predictions(examples, rng):
    """Realistic predictions: gold variants, overlapping spans, random spans, extra words and punctuation."""
    out = {}
    for example in examples:
        gold = example.answers[int(rng.integers(len(example.answers)))]
        choice = rng.integers(6)
        context = example.context
        if choice == 0:
            out[example.id] = gold.text
        elif choice == 1:  # span extended by a few characters each side
            out[example.id] = context[max(0, gold.start - int(rng.integers(1, 15))) : gold.start + len(gold.text) + int(rng.integers(0, 15))]
        elif choice == 2:  # truncated
            out[example.id] = gold.text[: max(1, len(gold.text) // 2)]
        elif choice == 3:  # random span of the context
            start = int(rng.integers(0, max(1, len(context) - 30)))
            out[example.id] = context[start : start + int(rng.integers(1, 30))]
        elif choice == 4:
            out[example.id] = "The " + gold.text.upper() + "!"
        # choice 5: unanswered
    return out


def test_squad_official_equals_reference_script_on_real_dev(shared_data):
    import json

    path = shared_data / "squad_v1.1_en" / "dev-v1.1.json"
    dataset = json.loads(path.read_text(encoding="utf-8"))["data"]
    task = TaskConfig(name="q", kind="extractive_qa", metric="squad", format="squad_json", train="x", dev="x")
    examples = read_split(task, str(path))
    predictions = _predictions(examples, np.random.default_rng(0))
    gold = {e.id: [a.text for a in e.answers] for e in examples}
    ours = squad_scores(gold, predictions, "official")
    reference = ref_evaluate(dataset, predictions)
    assert ours["exact_match"] == pytest.approx(reference["exact_match"], abs=1e-9)
    assert ours["f1"] == pytest.approx(reference["f1"], abs=1e-9)
    assert 10 < reference["exact_match"] < 60  # the perturbations produce a real mix
    for example in examples[:1000]:  # normalization agrees string for string
        for answer in example.answers:
            assert normalize_official(answer.text) == ref_normalize_answer(answer.text)
    perfect = {e.id: e.answers[0].text for e in examples}
    assert squad_scores(gold, perfect) == {"exact_match": 100.0, "f1": 100.0}


def test_french_normalization_strips_french_articles_and_punctuation():
    assert normalize_french("L'Élysée") == normalize_french("Élysée") == "élysée"
    assert normalize_french("l’hôpital de la ville") == "hôpital ville"
    assert normalize_french("« la tour Eiffel »") == normalize_french("tour Eiffel")
    assert normalize_french("des pommes, du pain et une orange") == "pommes pain et orange"
    assert normalize_french("Aujourd'hui") == "aujourd hui"  # not an article: only the apostrophe goes
    # the official script keeps French articles and Unicode punctuation
    assert normalize_official("« la tour Eiffel »") == "« la tour eiffel »"
    gold = {"q": ["la tour Eiffel"]}
    assert squad_scores(gold, {"q": "Tour Eiffel"}, "french")["exact_match"] == 100.0
    assert squad_scores(gold, {"q": "Tour Eiffel"}, "official")["exact_match"] == 0.0


def test_french_squad_scores_on_piaf_answers_keep_accents(shared_data):
    task = TaskConfig(name="q", kind="extractive_qa", metric="squad", format="squad_json", train="x", dev="x")
    examples = read_split(task, str(shared_data / "piaf_fr/piaf-v1.0.json"))
    gold = {e.id: [a.text for a in e.answers] for e in examples}
    with_article = {e.id: "le " + e.answers[0].text for e in examples}
    assert squad_scores(gold, with_article, "french")["exact_match"] == 100.0
    stripped = {e.id: e.answers[0].text.encode("ascii", "ignore").decode() for e in examples}
    accented = sum(1 for e in examples if any(ord(c) > 127 for c in e.answers[0].text))
    em = squad_scores(gold, stripped, "french")["exact_match"]
    assert em == pytest.approx(100.0 * (len(examples) - accented) / len(examples), abs=1.0)  # accents matter


def _corrupt(sentences, rate, rng, types=("PER", "LOC", "ORG", "MISC")):
    tags = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    out = []
    for sentence in sentences:
        row = list(sentence)
        for i in range(len(row)):
            if rng.random() < rate:
                row[i] = tags[int(rng.integers(len(tags)))]  # includes malformed I- starts
        out.append(row)
    return out


@pytest.fixture(scope="module")
def conll_test_tags(shared_data):
    task = TaskConfig(name="n", kind="token_classification", metric="entity_f1", format="conll", tag_scheme="iob1", train="x", dev="x")
    return [list(s.tags) for s in read_split(task, str(shared_data / "conll2003_en/iob1_original/eng.testb"))]


@pytest.mark.parametrize("rate", [0.03, 0.3])
def test_entity_f1_equals_seqeval_on_real_conll(conll_test_tags, rate):
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    gold = conll_test_tags
    predicted = _corrupt(gold, rate, np.random.default_rng(int(rate * 100)))
    ours = entity_scores(gold, predicted)
    assert ours.f1 == pytest.approx(seqeval_metrics.f1_score(gold, predicted), abs=1e-12)
    assert ours.precision == pytest.approx(seqeval_metrics.precision_score(gold, predicted), abs=1e-12)
    assert ours.recall == pytest.approx(seqeval_metrics.recall_score(gold, predicted), abs=1e-12)
    report = seqeval_metrics.classification_report(gold, predicted, output_dict=True, zero_division=0)
    for kind, (precision, recall, f1, support) in ours.per_type.items():
        assert (precision, recall, f1, support) == pytest.approx(
            (report[kind]["precision"], report[kind]["recall"], report[kind]["f1-score"], report[kind]["support"]), abs=1e-12
        )
    assert ours.n_gold == 5648  # CoNLL-2003 test set entities


def test_entity_chunks_follow_conlleval():
    assert entities(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG"]) == [
        ("PER", 0, 1), ("LOC", 3, 4), ("LOC", 5, 5), ("ORG", 6, 6)
    ]
    scores = entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)


def test_accuracy_and_score_split_units():
    assert accuracy(["a", "b", "a", "a"], ["a", "b", "b", "a"]) == 0.75
    with pytest.raises(ValueError, match="3 gold labels but 2 predictions"):
        accuracy(["a", "b", "c"], ["a", "b"])
    from workbench.evaluation.examples import TextExample

    examples = [TextExample("x", None, "pos"), TextExample("y", None, "neg")]
    assert score_split("accuracy", examples, ["pos", "pos"]) == {"accuracy": 50.0}
