"""Multi-label F1 (micro, macro, weighted) on hand-computed numbers and against scikit-learn; the decision
threshold tuned on dev is the exact optimum (hand-made cases, and brute force over every threshold)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.evaluation.examples import MultiLabelExample
from workbench.evaluation.metrics import PRIMARY_METRIC, score_split
from workbench.evaluation.metrics.multilabel import indicator, multilabel_scores
from workbench.evaluation.metrics.threshold import sigmoid, tune_threshold

GOLD = np.array([[1, 0, 0], [1, 1, 0]], dtype=bool)
PRED = np.array([[1, 0, 0], [0, 1, 0]], dtype=bool)


def test_f1_variants_on_hand_computed_counts():
    # label 0: tp 1, fn 1 -> F1 2/3; label 1: tp 1 -> F1 1; label 2: never gold, never predicted -> F1 0
    # pooled: tp 2, fp 0, fn 1 -> micro F1 4/5; macro (2/3 + 1 + 0) / 3 = 5/9; weighted (2 * 2/3 + 1 * 1) / 3 = 7/9
    scores = multilabel_scores(GOLD, PRED)
    assert scores["micro_f1"] == pytest.approx(4 / 5)
    assert scores["macro_f1"] == pytest.approx(5 / 9)
    assert scores["weighted_f1"] == pytest.approx(7 / 9)
    assert scores["micro_precision"] == pytest.approx(1.0) and scores["micro_recall"] == pytest.approx(2 / 3)
    assert scores["subset_accuracy"] == pytest.approx(1 / 2)
    nothing = multilabel_scores(GOLD, np.zeros_like(GOLD))
    assert nothing["micro_f1"] == nothing["macro_f1"] == nothing["micro_precision"] == 0.0
    empty_gold = multilabel_scores(np.zeros((2, 3), bool), np.zeros((2, 3), bool))
    assert empty_gold["weighted_f1"] == 0.0 and empty_gold["subset_accuracy"] == 1.0


def test_score_split_uses_label_names_over_the_whole_label_set():
    examples = [MultiLabelExample("a", None, ("news",), "f:1"), MultiLabelExample("b", None, ("news", "sport"), "f:2")]
    scores = score_split("macro_f1", examples, [["news"], ["sport"]], labels=["news", "sport", "tech"])
    assert scores["micro_f1"] == pytest.approx(80.0) and scores["macro_f1"] == pytest.approx(500 / 9)
    assert scores["weighted_f1"] == pytest.approx(700 / 9)
    assert PRIMARY_METRIC["weighted_f1"] == "weighted_f1"
    with pytest.raises(ValueError, match="'music' of example 1 is not one of"):
        score_split("micro_f1", examples, [["news"], ["music"]], labels=["news", "sport", "tech"])
    assert indicator([("b",), ()], ["a", "b"]).tolist() == [[False, True], [False, False]]


def test_f1_variants_match_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(50):
        n, labels = int(rng.integers(1, 20)), int(rng.integers(2, 7))
        gold = rng.random((n, labels)) < rng.uniform(0.05, 0.6)
        predicted = rng.random((n, labels)) < rng.uniform(0.05, 0.6)
        ours = multilabel_scores(gold, predicted)
        for average in ("micro", "macro", "weighted"):
            expected = metrics.f1_score(gold, predicted, average=average, zero_division=0)
            assert ours[f"{average}_f1"] == pytest.approx(expected, abs=1e-12)
        assert ours["micro_precision"] == pytest.approx(metrics.precision_score(gold, predicted, average="micro", zero_division=0))
        assert ours["micro_recall"] == pytest.approx(metrics.recall_score(gold, predicted, average="micro", zero_division=0))
        assert ours["subset_accuracy"] == pytest.approx(metrics.accuracy_score(gold, predicted))


def test_threshold_is_the_dev_optimum_on_hand_made_examples():
    # sorted probabilities 0.9+ 0.6+ 0.4+ 0.35+ 0.3- 0.2- (+: gold): the best cut keeps the four gold entries,
    # micro F1 1.0, threshold halfway between 0.35 and 0.3; the untuned 0.5 would give 2 tp of 4: F1 2/3
    probabilities = np.array([[0.9, 0.2], [0.6, 0.4], [0.3, 0.35]])
    gold = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    tuned = tune_threshold(probabilities, gold, "micro_f1")
    assert tuned.threshold == pytest.approx(0.325) and tuned.score == pytest.approx(1.0)
    assert multilabel_scores(gold, probabilities >= 0.5)["micro_f1"] == pytest.approx(2 / 3)

    # macro and micro disagree: label 0 has 3 gold of 3 entries, label 1 one gold among low scores.
    #   p (label, gold): 0.8 (0,+) 0.7 (0,+) 0.6 (0,+) 0.5 (1,-) 0.4 (1,-) 0.1 (1,+)
    # micro: best at 3 entries in: tp 3, pred 3, gold 4 -> 6/7; all 6 in: 8/10 -> threshold 0.55
    # macro: 3 in -> (1 + 0) / 2 = 0.5; all 6 in -> (1 + 2*1/(3+1)) / 2 = 0.75 -> threshold 0.05
    probabilities = np.array([[0.8, 0.5], [0.7, 0.4], [0.6, 0.1]])
    gold = np.array([[1, 0], [1, 0], [1, 1]], dtype=bool)
    micro = tune_threshold(probabilities, gold, "micro_f1")
    assert micro.threshold == pytest.approx(0.55) and micro.score == pytest.approx(6 / 7)
    macro = tune_threshold(probabilities, gold, "macro_f1")
    assert macro.threshold == pytest.approx(0.05) and macro.score == pytest.approx(0.75)
    # weighted: label 0 weighs 3/4: 3 in -> 0.75; 6 in -> 3/4 * 1 + 1/4 * 0.5 = 0.875 -> 0.05 too
    assert tune_threshold(probabilities, gold, "weighted_f1").score == pytest.approx(0.875)

    # ties: every cut in (0.1, 0.9) is equally good; the one closest to the untuned 0.5 is kept
    assert tune_threshold(np.array([[0.9], [0.1]]), np.array([[1], [0]], bool), "micro_f1").threshold == 0.5
    # equal probabilities cannot be separated: both in (F1 2/3) beats none in (F1 0)
    tied = tune_threshold(np.array([[0.7, 0.7]]), np.array([[1, 0]], bool), "micro_f1")
    assert tied.threshold == pytest.approx(0.35) and tied.score == pytest.approx(2 / 3)


@pytest.mark.parametrize("average", ["micro_f1", "macro_f1", "weighted_f1"])
def test_threshold_matches_brute_force_over_every_threshold(average):
    rng = np.random.default_rng(1)
    for _ in range(40):
        n, labels = int(rng.integers(1, 25)), int(rng.integers(2, 6))
        probabilities = np.round(rng.random((n, labels)), int(rng.integers(1, 4)))  # rounding makes ties
        gold = rng.random((n, labels)) < 0.3
        tuned = tune_threshold(probabilities, gold, average)
        candidates = np.concatenate([np.unique(probabilities), [1.5]])  # every distinct prediction set, and none
        brute = max(multilabel_scores(gold, probabilities >= t)[average] for t in candidates)
        assert tuned.score == pytest.approx(brute, abs=1e-12)
        assert multilabel_scores(gold, probabilities >= tuned.threshold)[average] == pytest.approx(brute, abs=1e-12)


def test_sigmoid_is_stable_for_large_logits():
    values = sigmoid(np.array([-1000.0, -5.0, 0.0, 5.0, 1000.0]))
    assert values.tolist() == pytest.approx([0.0, 1 / (1 + np.exp(5)), 0.5, 1 / (1 + np.exp(-5)), 1.0])


def test_training_loss_is_bce_on_multi_hot_targets_and_the_model_loss_otherwise():
    import torch

    from workbench.evaluation.config import TaskConfig
    from workbench.evaluation.features.feature import Feature
    from workbench.evaluation.kinds import TrainingLoss, head_kind
    from workbench.evaluation.models import Outputs

    task = TaskConfig(name="t", kind="multilabel_classification", metric="micro_f1", format="jsonl", train="x", dev="x")
    examples = [MultiLabelExample("a", None, ("b",), ""), MultiLabelExample("b", None, (), ""),
                MultiLabelExample("c", None, ("a", "c"), "")]
    features = [Feature([0, 1], [0, 0], index) for index in (2, 0, 1)]  # features need not follow example order
    loss = TrainingLoss(task, examples, features, ["a", "b", "c"])
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 1.0, 0.0]])
    # batch = features 0 and 2 -> examples 2 (a, c) and 1 (none); transformers' multi_label_classification loss
    expected = torch.nn.BCEWithLogitsLoss()(logits, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]))
    assert torch.allclose(loss(Outputs(None, logits=logits), [0, 2]), expected)
    assert head_kind("multilabel_classification") == "classification" and head_kind("extractive_qa") == "extractive_qa"
    single = TrainingLoss(TaskConfig(name="s", format="csv", train="x", dev="x"), [], [], ["a", "b"])
    model_loss = torch.tensor(0.25)
    assert single(Outputs(model_loss, logits=logits), [0]) is model_loss  # cross-entropy computed by the model
