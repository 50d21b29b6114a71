"""One leaderboard row per encoder weights: a run folder and its transformers export are one model, shown with its
aliases; the weights identity is the same across formats and families, and differs for other weights."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest
import torch

from workbench.evaluation.config import FinetuneConfig, ReportConfig, TaskConfig
from workbench.evaluation.finetune import finetune_task
from workbench.evaluation.protocol import summarize
from workbench.evaluation.report import build_report
from workbench.evaluation.results_db import JobKey, JobRecord, ResultsDB
from workbench.evaluation.weights_identity import encoder_weights_id, transformers_weights_id
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel
from workbench.training.config import HardwareConfig

pytest.importorskip("transformers")

FAMILIES = {  # the smallest config of each family that transformers can express
    "roberta": dict(position_offset=2),
    "bert": {},
    "flaubert": dict(type_vocab_size=0, mlm_transform=False, pooler=False, intermediate_size=128),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_weights_id_is_the_same_in_workbench_and_transformers_layouts(family):
    from workbench.interop.transformers_export import export_to_transformers

    fields = dict(family=family, size="tiny", vocab_size=100, pad_token_id=1, hidden_size=32, num_layers=2, num_heads=2,
                  intermediate_size=64, max_positions=64, dropout=0.0, attention_dropout=0.0)
    config = EncoderConfig(**{**fields, **FAMILIES[family]})
    torch.manual_seed(0)
    model = PretrainingModel(config).eval()
    folder = Path(tempfile.mkdtemp()) / "export"
    export_to_transformers(model, folder)  # transformers splits the fused qkv projection, renames every tensor
    ours = encoder_weights_id(model.state_dict(), config)
    assert ours.startswith("w-") and ours == transformers_weights_id(folder)
    changed = {k: v.clone() for k, v in model.state_dict().items()}
    key = next(k for k in changed if k.startswith("encoder.") and k.endswith("weight") and changed[k].dim() == 2)
    changed[key][0, 0] += 1e-3  # one weight differs: another model
    assert encoder_weights_id(changed, config) != ours
    head_only = {k: (v + 1 if not k.startswith("encoder.") else v) for k, v in model.state_dict().items()}
    assert encoder_weights_id(head_only, config) == ours  # the MLM head is not the encoder


def test_run_folder_and_its_export_are_one_row_with_aliases(tmp_path, repo_root, tiny_model_dir):
    from workbench.artifacts.model_folder import load_model_folder, save_model_folder
    from workbench.training.export import export_run

    tiny = load_model_folder(tiny_model_dir)
    config = dataclasses.replace(tiny.encoder_config, position_offset=tiny.encoder_config.pad_token_id + 1)
    torch.manual_seed(0)
    run = tmp_path / "runs" / "myrun"
    save_model_folder(run / "model", PretrainingModel(config).state_dict(), config, tiny_model_dir / "tokenizer",
                      {"config": {}, "note": "test run"})
    assert export_run(run, replace=False) == run / "transformers"

    tasks = repo_root / "corpora/sample_fr/tasks/sentiment"
    task = TaskConfig(name="sample_sentiment", train=str(tasks / "train.tsv"), dev=str(tasks / "dev.tsv"),
                      test=str(tasks / "test.tsv"), labels=["neg", "pos"], max_train_examples=16, max_eval_examples=8,
                      max_seq_len=32)
    hardware = HardwareConfig(num_threads=1)
    jobs = [finetune_task(task, FinetuneConfig(model=str(folder), lr=1e-3, epochs=1, batch_size=8), hardware, seed=0,
                          evals_dir=tmp_path / "evals")
            for folder in (run, run / "transformers", tiny_model_dir)]
    names = [job.key.model for job in jobs]
    assert names == ["myrun", "transformers", tiny_model_dir.parent.name]
    assert jobs[0].key.checkpoint_hash != jobs[1].key.checkpoint_hash  # other files: the job identities stay apart
    db = ResultsDB(tmp_path / "evals" / "results.sqlite")
    ids = {row.model: row.weights_id for row in db.results()}
    assert ids["myrun"] == ids["transformers"] != ids[names[2]] and ids["myrun"]
    board = summarize(db.results())
    assert board.labels == sorted(["myrun", names[2]]) and board.aliases() == {"myrun": ["transformers"]}
    summary = board.summaries[("myrun", "sample_sentiment")]
    assert sorted(model for model, _ in summary.members) == ["myrun", "transformers"]
    # same weights, hyperparameters and seed: the same job under two names, counted once (not as two seeds)
    assert summary.configs_tried == 1 and summary.seeds == [0]
    md = build_report(ReportConfig(plots=False), db.path, tmp_path / "report").markdown.read_text(encoding="utf-8")
    assert "Same encoder weights under other names (one row each): myrun = transformers." in md
    assert "| transformers |" not in md


def test_rows_without_weights_id_or_of_checkpoints_keep_their_names(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    rows = (("a", "w-1", {}), ("a-copy", "w-1", {}), ("a@400", "w-1", {"pretraining": {"step": 400}}),
            ("b", "", {}), ("c", "", {}))
    for model, weights, extra in rows:
        db.store(JobRecord(JobKey(model, model + "-hash", "t", 0, {"lr": 1.0, **extra}), "fr", "accuracy",
                           {"dev": {"accuracy": 50.0}}, weights_id=weights))
    board = summarize(db.results())
    # a@400 is a checkpoint (a point of the pretraining-gain curve): its own row even with the final weights
    assert board.labels == ["a", "a@400", "b", "c"] and board.aliases() == {"a": ["a-copy"]}
