"""The command line as users call it (subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys

from workbench.cli import STAGES


def _run(repo_root, *args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo_root)}
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, cwd=cwd or repo_root, env=env, timeout=120)


def test_help_lists_every_stage(repo_root):
    result = _run(repo_root, "--help")
    assert result.returncode == 0
    for stage in ("tokenizer", "prepare", "train", "eval", "finetune", "report", "pipeline"):
        assert stage in STAGES and f"  {stage}" in result.stdout


def test_unknown_stage_is_an_error_listing_the_stages(repo_root):
    result = _run(repo_root, "trian")
    assert result.returncode == 2 and "unknown stage 'trian'" in result.stderr and "train" in result.stderr


def test_train_help_shows_hydra_config_groups(repo_root):
    result = _run(repo_root, "train", "--help")
    assert result.returncode == 0
    for group in ("model:", "trainer:", "hardware:", "experiment:", "camembert_base"):
        assert group in result.stdout


def test_train_without_model_is_one_clear_line(repo_root, tmp_path):
    result = _run(repo_root, "train", f"paths.runs={tmp_path}")
    assert result.returncode == 2
    assert "+model=" in result.stderr and "camembert_base" in result.stderr
    assert "Traceback" not in result.stderr


def test_misspelled_override_names_the_key(repo_root, tmp_path):
    result = _run(repo_root, "train", "+model=bert_tiny", "trainer.max_stepz=5", f"paths.runs={tmp_path}")
    assert result.returncode != 0 and "max_stepz" in result.stderr


def test_sequences_longer_than_the_position_table_fail_before_training(repo_root, tmp_path):
    result = _run(repo_root, "train", "+model=camembert_tiny", "packing.max_seq_len=512", f"paths.runs={tmp_path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "packing.max_seq_len=512 exceeds model.max_positions=128" in result.stderr
    assert not (tmp_path / "default" / "model").exists()


def test_missing_tokenizer_folder_tells_which_command_to_run(repo_root, tmp_path):
    result = _run(repo_root, "prepare", f"paths.tokenizers={tmp_path}/none", f"paths.shards={tmp_path}/shards",
                  f"paths.runs={tmp_path}/runs")
    assert result.returncode == 2
    assert "python -m workbench tokenizer" in result.stderr and "Traceback" not in result.stderr


def test_multirun_gives_one_artifact_per_job(repo_root, tmp_path):
    result = _run(repo_root, "tokenizer", "-m", "tokenizer=sample_wordpiece,sample_sentencepiece",
                  f"paths.tokenizers={tmp_path}/tok", f"paths.runs={tmp_path}/runs")
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("sample-wordpiece", "sample-sentencepiece"):
        assert (tmp_path / "tok" / name / "manifest.json").exists()
    assert (tmp_path / "runs" / "logs" / "tokenizer-multirun").is_dir()
