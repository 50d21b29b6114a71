"""Custom tasks from the user's own files, through the shipped conf/task/custom_*.yaml templates: a multi-label
jsonl task trains (sigmoid + BCE, dev-tuned threshold) and beats the best constant predictor; csv single-label
and CoNLL token tasks run through the eval stage into the results database and the leaderboard."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from workbench.evaluation.config import FinetuneConfig, ReportConfig, TaskConfig
from workbench.evaluation.finetune import finetune_task
from workbench.evaluation.metrics.multilabel import indicator, multilabel_scores
from workbench.evaluation.report import build_report
from workbench.evaluation.results_db import ResultsDB
from workbench.training.config import HardwareConfig

REPO = Path(__file__).resolve().parents[2]
ONE_THREAD = HardwareConfig(num_threads=1)

TOPICS = {  # label -> keywords that signal it (each one token of the fixture's French BPE)
    "culture": ["musique", "culture", "collection"],
    "guerre": ["bataille", "guerre", "troupes"],
    "nature": ["nature", "soleil", "territoire"],
    "politique": ["gouvernement", "ministre", "politique"],
}
FILLER = ["le", "la", "une", "ville", "jour", "grand", "avec", "dans", "pour", "est", "leur", "tout", "temps",
          "encore", "souvent", "depuis", "toujours", "chaque", "moment", "famille"]


def custom_task(template: str, **overrides) -> TaskConfig:
    """conf/task/<template>.yaml with the user's command-line overrides, typed like the CLI does."""
    merged = OmegaConf.merge(OmegaConf.structured(TaskConfig), OmegaConf.load(REPO / "conf" / "task" / f"{template}.yaml"),
                             OmegaConf.create(overrides))
    return OmegaConf.to_object(merged)


def topic_examples(n: int, seed: int):
    """Texts whose labels are the topics of the keywords they contain (each topic with probability 0.35)."""
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(n):
        labels = sorted(topic for topic in TOPICS if rng.random() < 0.35)
        words = list(rng.choice(FILLER, size=6)) + [str(rng.choice(TOPICS[topic])) for topic in labels]
        rng.shuffle(words)
        examples.append({"text": " ".join(words), "labels": labels})
    return examples


def write_jsonl(path: Path, records) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return str(path)


def best_constant_micro_f1(gold: np.ndarray) -> float:
    """The best micro F1 of any predictor that outputs the same label set for every example."""
    best = 0.0
    for subset in itertools.product([False, True], repeat=gold.shape[1]):
        constant = np.broadcast_to(np.array(subset), gold.shape)
        best = max(best, multilabel_scores(gold, constant)["micro_f1"])
    return best


def test_custom_multilabel_task_trains_and_beats_the_best_constant_predictor(tmp_path, tiny_model_dir):
    files = {split: write_jsonl(tmp_path / f"{split}.jsonl", topic_examples(n, seed))
             for split, n, seed in (("train", 160, 0), ("dev", 48, 1), ("test", 48, 2))}
    task = custom_task("custom_multilabel", name="topics", **files, max_seq_len=32)
    finetune = FinetuneConfig(model=str(tiny_model_dir), model_name="tiny", lr=3e-3, epochs=12, batch_size=16,
                              warmup_ratio=0.0)
    result = finetune_task(task, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path)

    labels = sorted(TOPICS)
    test_gold = indicator([r["labels"] for r in map(json.loads, Path(files["test"]).read_text().splitlines())], labels)
    constant = 100.0 * best_constant_micro_f1(test_gold)
    assert 40.0 < constant < 70.0  # predicting every label: precision ~0.35, recall 1
    assert result.scores["test"]["micro_f1"] > constant + 15.0, (result.scores, constant)

    threshold = result.scores["dev"]["threshold"]
    assert 0.0 < threshold < 1.0
    metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["labels"] == labels and metrics["decoding"] == {"threshold": threshold}
    records = [json.loads(line) for line in (result.run_dir / "predictions" / "test.jsonl").read_text().splitlines()]
    assert [r["gold"] for r in records] == [sorted(r) for r in (json.loads(l)["labels"] for l in Path(files["test"]).read_text().splitlines())]
    recomputed = multilabel_scores(indicator([r["gold"] for r in records], labels), indicator([r["prediction"] for r in records], labels))
    for name in ("micro_f1", "macro_f1", "weighted_f1", "subset_accuracy"):
        assert 100.0 * recomputed[name] == pytest.approx(result.scores["test"][name])

    rows = ResultsDB(tmp_path / "results.sqlite").results()
    assert {r.primary_metric for r in rows} == {"micro_f1"} and {r.language for r in rows} == {"custom"}
    assert {(r.split, r.metric) for r in rows} >= {("dev", "threshold"), ("test", "micro_f1"), ("test", "macro_f1"), ("test", "weighted_f1")}
    report = build_report(ReportConfig(plots=False), tmp_path / "results.sqlite", tmp_path / "report")
    assert report.leaderboard.tasks == ["topics"] and report.leaderboard.averages["tiny"] == {}  # outside FLUE/GLUE averages
    summary = report.leaderboard.summaries[("tiny", "topics")]
    assert summary.primary_metric == "micro_f1" and summary.headline.mean == pytest.approx(result.scores["test"]["micro_f1"])


def verdict_rows(n: int, seed: int):
    """Reviews (with commas and quotes, so the csv needs quoting) whose verdict follows their keyword."""
    rng = np.random.default_rng(seed)
    keywords = {"paix": ["culture", "musique", "nature"], "conflit": ["guerre", "bataille", "troupes"]}
    rows = []
    for _ in range(n):
        verdict = str(rng.choice(sorted(keywords)))
        words = list(rng.choice(FILLER, size=5)) + [str(rng.choice(keywords[verdict]))]
        rng.shuffle(words)
        rows.append({"id": str(len(rows)), "review": f'"{words[0]}", ' + " ".join(words[1:]), "verdict": verdict})
    return rows


def write_csv(path: Path, rows) -> str:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def compose_eval(overrides):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from workbench.config.store import register_configs
    from workbench.config.typed import CONF_DIR, to_typed

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return to_typed(compose(config_name="eval", overrides=overrides))


def test_custom_csv_task_runs_through_the_eval_stage_and_edited_files_make_a_new_job(tmp_path, tiny_model_dir):
    from workbench.evaluation.errors import TaskDataError
    from workbench.stages.evaluate import evaluate

    train = write_csv(tmp_path / "reviews.csv", verdict_rows(200, 0))
    test = write_csv(tmp_path / "held_out.csv", verdict_rows(40, 1))
    evals = tmp_path / "evals"
    overrides = ["task=custom_csv", "task.name=verdicts", f"task.train={train}", f"task.test={test}",
                 "task.text_column=review", "task.label_column=verdict", "task.max_seq_len=32",
                 f"finetune.model={tiny_model_dir}", "finetune.model_name=tiny", "finetune.lr=3e-3", "finetune.epochs=4",
                 "finetune.batch_size=16", "finetune.warmup_ratio=0", "hardware.num_threads=1", f"paths.evals={evals}"]
    with pytest.raises(TaskDataError, match="task verdicts: task.train is not set; name the training file"):
        evaluate(compose_eval([o for o in overrides if not o.startswith("task.train=")]))
    [result] = evaluate(compose_eval(overrides))
    metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["labels"] == ["conflit", "paix"] and metrics["n_examples"]["dev"] == 20  # 10% of train held out
    assert metrics["n_examples"]["train"] == 180 and metrics["n_examples"]["test"] == 40
    majority = 100.0 * max(sum(r["verdict"] == v for r in verdict_rows(40, 1)) for v in ("paix", "conflit")) / 40
    assert result.scores["test"]["accuracy"] >= max(90.0, majority + 20.0)
    records = [json.loads(line) for line in (result.run_dir / "predictions" / "test.jsonl").read_text().splitlines()]
    assert records[0]["source"] == f"{test}:2" and records[0]["gold"] == verdict_rows(40, 1)[0]["verdict"]
    db = ResultsDB(evals / "results.sqlite")
    rows = db.results(tasks=["verdicts"])
    assert {(r.split, r.metric) for r in rows} >= {("dev", "accuracy"), ("test", "accuracy")}
    assert {r.model for r in rows} == {"tiny"} and {r.language for r in rows} == {"custom"}
    count = db.count()

    [again] = evaluate(compose_eval(overrides))  # same files: the finished job is reused, nothing duplicated
    assert again.reused and db.count() == count
    write_csv(tmp_path / "reviews.csv", verdict_rows(200, 0)[:150])  # the user edits the file behind the same path
    [edited] = evaluate(compose_eval(overrides))
    assert not edited.reused and edited.key.hparams_hash != result.key.hparams_hash  # same config, other contents
    assert json.loads((edited.run_dir / "metrics.json").read_text())["n_examples"]["train"] == 135


def ner_sentences(n: int, seed: int):
    """Sentences with person and place names (tagged IOB2; Saint Étienne is two tokens) among filler words."""
    rng = np.random.default_rng(seed)
    people, places = ["Pierre", "Marie", "Louis", "Jeanne"], ["Paris", "Lyon", "Marseille", "Bordeaux"]
    sentences = []
    for _ in range(n):
        tokens, tags = [], []
        for word in rng.choice(FILLER, size=5):
            tokens.append(str(word))
            tags.append("O")
            roll = rng.random()
            if roll < 0.2:
                tokens.append(str(rng.choice(people)))
                tags.append("B-PER")
            elif roll < 0.35:
                place = str(rng.choice(places))
                tokens += ["Saint", place] if place == "Étienne" else [place]  # a two-token entity
                tags += ["B-LOC", "I-LOC"] if place == "Étienne" else ["B-LOC"]
        sentences.append((tokens, tags))
    return sentences


def write_conll(path: Path, sentences) -> str:
    blocks = ["\n".join(f"{token}\t{tag}" for token, tag in zip(tokens, tags)) for tokens, tags in sentences]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return str(path)


def test_custom_conll_task_loads_user_files_and_stores_entity_f1(tmp_path, tiny_model_dir):
    from workbench.evaluation.metrics.entity_f1 import entity_scores

    files = {split: write_conll(tmp_path / f"{split}.conll", ner_sentences(n, seed))
             for split, n, seed in (("train", 120, 0), ("dev", 30, 1), ("test", 30, 2))}
    task = custom_task("custom_conll", name="names", **files, max_seq_len=48)
    finetune = FinetuneConfig(model=str(tiny_model_dir), model_name="tiny", lr=3e-3, epochs=8, batch_size=16, warmup_ratio=0.0)
    result = finetune_task(task, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path)
    records = [json.loads(line) for line in (result.run_dir / "predictions" / "test.jsonl").read_text().splitlines()]
    assert [(r["tokens"], r["gold"]) for r in records] == [(list(t), list(g)) for t, g in ner_sentences(30, 2)]
    recomputed = entity_scores([r["gold"] for r in records], [r["prediction"] for r in records])
    assert 100.0 * recomputed.f1 == pytest.approx(result.scores["test"]["f1"])
    assert result.scores["test"]["f1"] > 50.0  # learned from the file (all-O scores 0)
    rows = ResultsDB(tmp_path / "results.sqlite").results(tasks=["names"])
    assert {(r.split, r.metric) for r in rows} >= {("dev", "f1"), ("test", "f1"), ("test", "precision"), ("test", "recall")}
    assert {r.primary_metric for r in rows} == {"f1"}


def test_custom_templates_are_valid_once_train_is_given():
    for path in sorted((REPO / "conf" / "task").glob("custom_*.yaml")):
        assert OmegaConf.load(path).train is None, path  # the user names the file
        task = custom_task(path.stem, train="data/train.file")
        assert task.name == path.stem and task.language not in ("fr", "en")  # kept out of the FLUE/GLUE averages
        assert task.dev is None and task.dev_fraction > 0
    assert custom_task("custom_multilabel", train="x").kind == "multilabel_classification"
