"""Shared by the pretraining tests: a vocabulary and shards built once from the shipped French sample."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from workbench.config.root import WorkbenchConfig
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, to_typed
from workbench.stages.prepare import prepare_shards
from workbench.stages.tokenizer import train_vocabulary

# A tiny CamemBERT-style model and a short run with dropout on: every resume-sensitive piece is exercised
# (dropout RNG, dynamic masking, loader position, warmup/decay schedule, Adam moments).
TINY_RUN = [
    "+model=camembert_tiny",
    "model.hidden_size=32",
    "model.intermediate_size=64",
    "model.num_heads=2",
    "model.num_layers=2",
    "model.dropout=0.1",
    "model.attention_dropout=0.1",
    "packing.max_seq_len=64",
    "model.max_positions=64",
    "trainer=quickstart",
    "trainer.max_steps=12",
    "trainer.global_batch_size=16",
    "trainer.micro_batch_size=8",
    "trainer.log_every=1",
    "trainer.eval_every=6",
    "trainer.eval_batches=2",
    "trainer.checkpoint_every=3",
    "trainer.keep_last=10",
    "trainer.scheduler.warmup_steps=4",
    "hardware.num_threads=1",
    "trainer.export_transformers=false",  # importing transformers costs seconds per run: tested in test_export.py
]


@dataclass
class SampleArtifacts:
    root: Path  # holds tokenizers/ and shards/

    def paths(self, runs: Path) -> List[str]:
        return [f"paths.tokenizers={self.root}/tokenizers", f"paths.shards={self.root}/shards", f"paths.runs={runs}"]


def compose_config(config_name: str, overrides: List[str]) -> WorkbenchConfig:
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return to_typed(compose(config_name=config_name, overrides=overrides))


def cli_env() -> dict:
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([repo, *filter(None, [env.get("PYTHONPATH")])])
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return env


def run_cli(args: List[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def run_torchrun(args: List[str], cwd: Path, processes: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=<processes> -m workbench <args>`` (gloo on CPU)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "workbench", *args]
    return subprocess.run(command, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout)


def assert_same_training_steps(one: List[dict], two: List[dict], steps: int) -> None:
    """Two runs' train metrics rows (``read_metrics``) agree step by step within float tolerance, and trained."""
    assert [r["step"] for r in one] == [r["step"] for r in two] == list(range(1, steps + 1))
    for a, b in zip(one, two):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5), (a["step"], a["loss"], b["loss"])
        assert b["mlm_accuracy"] == pytest.approx(a["mlm_accuracy"], abs=1e-12)
        assert b["lr"] == a["lr"]
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
    assert one[-1]["loss"] < one[0]["loss"]  # it trained


@pytest.fixture(scope="session")
def sample_artifacts(tmp_path_factory, repo_root) -> SampleArtifacts:
    """Tokenizer and 64-token shards of the shipped sample, built in-process with the stage functions."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("sample-artifacts")
    cfg = compose_config("prepare", [*SampleArtifacts(root).paths(root / "runs"), "packing.max_seq_len=64"])
    cwd = os.getcwd()
    os.chdir(repo_root)  # the sample corpus paths in conf/ are relative to the repository root
    try:
        train_vocabulary(cfg)
        prepare_shards(cfg)
    finally:
        os.chdir(cwd)
    return SampleArtifacts(root)
