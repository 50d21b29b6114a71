"""The whole chain on the shipped sample with tiny settings: real artifacts, falling loss, metrics in range."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from workbench.artifacts.model_folder import load_model_folder
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, to_typed
from workbench.corpus.shards import ShardSet
from workbench.stages.pipeline import pipeline
from workbench.tokenization.tokenizer import Tokenizer
from workbench.training.metrics_log import read_metrics


@pytest.fixture(scope="module")
def chain(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp("chain")
    overrides = [
        "+experiment=quickstart",
        f"paths.tokenizers={tmp}/tokenizers",
        f"paths.shards={tmp}/shards",
        f"paths.runs={tmp}/runs",
        f"paths.evals={tmp}/evals",
        "trainer.max_steps=80",
        "trainer.log_every=10",
        "trainer.eval_every=40",
        "trainer.checkpoint_every=40",
        "trainer.micro_batch_size=16",
        "trainer.global_batch_size=32",
        "finetune.epochs=2",
    ]
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = to_typed(compose(config_name="pipeline", overrides=overrides))
    import os

    cwd = os.getcwd()
    os.chdir(repo_root)  # the sample paths in conf/ are relative to the repository root
    try:
        html = pipeline(cfg)
    finally:
        os.chdir(cwd)
    return tmp, cfg, html


def test_tokenizer_artifact_loads_and_keeps_french_accents(chain):
    tmp, cfg, _ = chain
    tokenizer = Tokenizer.load(tmp / "tokenizers" / cfg.tokenizer.name)
    assert tokenizer.vocab_size == cfg.tokenizer.vocab_size
    text = "Le garçon a mangé une crème brûlée à l'hôpital."
    assert tokenizer.decode(tokenizer.encode(text)) == text
    manifest = json.loads((tmp / "tokenizers" / cfg.tokenizer.name / "manifest.json").read_text())
    assert manifest["config"]["name"] == cfg.tokenizer.name and "libraries" in manifest and "code" in manifest


def test_shards_hold_the_sample_with_special_tokens(chain):
    tmp, cfg, _ = chain
    (folder,) = list((tmp / "shards").iterdir())
    shards = ShardSet.open(folder)
    train = shards.split("train")
    assert len(train) > 100 and len(shards.split("valid")) > 0
    tokenizer = Tokenizer.load(tmp / "tokenizers" / cfg.tokenizer.name)
    first = train.view(0)
    assert first[0] == tokenizer.cls_id and first[-1] == tokenizer.sep_id and len(first) <= cfg.packing.max_seq_len
    assert shards.manifest["dropped"].get("document_duplicate") == 3  # the sample's deliberate duplicates


def test_pretraining_loss_falls_and_model_folder_loads(chain):
    tmp, cfg, _ = chain
    run = tmp / "runs" / cfg.run_name
    losses = [row["loss"] for row in read_metrics(run, "train")]
    assert len(losses) == 8
    assert losses[-1] < losses[0] - 1.0, losses  # from ~ln(vocab) towards unigram entropy and below
    valid = read_metrics(run, "valid")
    assert valid and valid[-1]["perplexity"] < 3000
    loaded = load_model_folder(run / "model")
    assert loaded.encoder_config.vocab_size == cfg.tokenizer.vocab_size
    assert any(name.startswith("encoder.") for name in loaded.state_dict)
    assert (run / "checkpoints").is_dir() and (run / "tensorboard").is_dir()


def test_every_task_has_scores_in_range(chain):
    tmp, cfg, _ = chain
    with sqlite3.connect(tmp / "evals" / "results.sqlite") as db:
        rows = db.execute("SELECT task, split, metric, value FROM results").fetchall()
    tasks = {row[0] for row in rows}
    assert tasks == {t.name for t in cfg.tasks.values()}
    for task, split, metric, value in rows:
        if split in ("dev", "test") and metric in ("accuracy", "f1", "exact_match", "precision", "recall"):
            assert 0.0 <= value <= 100.0, (task, split, metric, value)
    metrics = {(t, m) for t, s, m, _ in rows if s == "test"}
    assert ("sample_qa", "exact_match") in metrics and ("sample_qa", "f1") in metrics
    assert ("sample_ner", "f1") in metrics and ("sample_sentiment", "accuracy") in metrics


def test_report_is_self_contained_html_with_a_plot(chain):
    tmp, _, html = chain
    page = html.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "<script src" not in page
    assert (html.parent / "leaderboard.md").read_text().count("sample_") >= 4
    assert (html.parent / "leaderboard.csv").exists()


def test_rerun_reuses_finished_artifacts(chain, repo_root, monkeypatch):
    tmp, cfg, _ = chain
    run = tmp / "runs" / cfg.run_name
    stamp = {p: p.stat().st_mtime_ns for p in [run / "model" / "model.safetensors", tmp / "tokenizers" / cfg.tokenizer.name / "tokenizer.json"]}
    with sqlite3.connect(tmp / "evals" / "results.sqlite") as db:
        before = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    monkeypatch.chdir(repo_root)
    pipeline(cfg)
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    with sqlite3.connect(tmp / "evals" / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == before
