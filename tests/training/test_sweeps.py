"""Sweeps: a Hydra multirun gives one run folder per job and <sweep dir>/summary.md/.csv rebuilt after each job;
the Optuna sweeper example minimizes the validation loss the train stage returns; the SLURM launcher example composes."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from workbench import cli
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR
from workbench.stages.train import train
from workbench.training.loop import TrainResult
from workbench.training.metrics_log import read_metrics
from workbench.training.sweep_summary import SUMMARY_CSV, SUMMARY_MD, sweep_dir_of

from .conftest import TINY_RUN, compose_config, run_cli

SWEEP = [*TINY_RUN, "trainer.max_steps=4", "trainer.eval_every=2", "trainer.checkpoint_every=4", "run_name=sweep"]
# The default job folder name is every override (hydra.job.override_dirname): too long a name with this many.
SUBDIR = "hydra.sweep.subdir=lr-${trainer.optimizer.lr}"


def _expected_row(job: Path) -> dict:
    train, valid = read_metrics(job, "train"), read_metrics(job, "valid")
    best = min(valid, key=lambda row: row["loss"])
    return {"train_loss": train[-1]["loss"], "valid_loss": best["loss"], "valid_perplexity": best["perplexity"],
            "valid_mlm_accuracy": best["mlm_accuracy"], "valid_step": best["step"],
            "tokens_per_second": statistics.median(row["tokens_per_second"] for row in train)}


def _csv_rows(sweep: Path) -> list[dict]:
    with open(sweep / SUMMARY_CSV, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_multirun_gives_a_folder_per_job_and_a_summary_table(sample_artifacts, tmp_path, capsys):
    runs = tmp_path / "runs"
    done = run_cli(["train", "-m", *SWEEP, *sample_artifacts.paths(runs), "trainer.optimizer.lr=1e-4,3e-3", SUBDIR], cwd=tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    sweep = runs / "sweep-multirun"
    jobs = {"lr-0.0001": sweep / "lr-0.0001", "lr-0.003": sweep / "lr-0.003"}
    for job in jobs.values():
        assert (job / "model" / "manifest.json").exists()
        assert sweep_dir_of(job) == sweep.resolve()
        assert f"sweep summary: {sweep.resolve() / SUMMARY_MD}" in (job / "cli.log").read_text()  # rewritten after each job

    rows = _csv_rows(sweep)
    assert [row["run_folder"] for row in rows] == sorted(jobs, key=lambda name: _expected_row(jobs[name])["valid_loss"])
    for row in rows:
        expected = _expected_row(jobs[row["run_folder"]])
        assert row["overrides"] == f"trainer.optimizer.lr={row['run_folder'][3:]}"  # what differs between the jobs
        assert "trainer.max_steps=4" in row["all_overrides"].split()
        assert int(row["steps"]) == 4 and int(row["valid_step"]) == expected.pop("valid_step")
        for key, value in expected.items():
            assert float(row[key]) == value, key
    assert float(rows[0]["valid_loss"]) < float(rows[1]["valid_loss"])

    markdown = (sweep / SUMMARY_MD).read_text()
    assert "2 finished job(s), best validation loss first" in markdown
    assert "Overrides shared by every job: `+model=camembert_tiny`" in markdown and "`trainer.max_steps=4`" in markdown
    first = f"| 1 | `{rows[0]['overrides']}` | 4 | {float(rows[0]['train_loss']):.4f} | {float(rows[0]['valid_loss']):.4f} |"
    assert first in markdown

    # `python -m workbench sweep-summary <dir>` rebuilds the table from disk: an unfinished job is listed apart
    shutil.rmtree(jobs["lr-0.003"] / "model")
    capsys.readouterr()
    assert cli.main(["sweep-summary", str(sweep)]) == 0
    printed = capsys.readouterr().out
    assert [row["run_folder"] for row in _csv_rows(sweep)] == ["lr-0.0001"]
    assert "1 finished job(s)" in printed and "Not finished (running, interrupted or failed): `lr-0.003`" in printed
    assert printed == (sweep / SUMMARY_MD).read_text()
    assert cli.main(["sweep-summary", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder; pass a multirun's sweep folder" in capsys.readouterr().err


def test_a_single_run_is_not_a_sweep_job(tmp_path):
    hydra = tmp_path / ".hydra"
    hydra.mkdir()
    (hydra / "hydra.yaml").write_text("hydra:\n  mode: RUN\n  sweep:\n    subdir: ${hydra.job.override_dirname}\n")
    assert sweep_dir_of(tmp_path) is None
    assert sweep_dir_of(tmp_path / "elsewhere") is None  # no .hydra at all (hydra.output_subdir=null, or no Hydra)


def test_sweep_folder_of_a_nested_job_folder(tmp_path):
    job = tmp_path / "sweep" / "group-a" / "lr-0.1"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("trainer:\n  optimizer:\n    lr: 0.1\n")
    (job / ".hydra" / "hydra.yaml").write_text("hydra:\n  mode: MULTIRUN\n  sweep:\n    subdir: group-a/lr-${trainer.optimizer.lr}\n")
    assert sweep_dir_of(job) == (tmp_path / "sweep").resolve()


def test_the_returned_result_is_the_sweep_objective(tmp_path):
    assert float(TrainResult(tmp_path, 10, losses=[3.0, 2.5], validation={"loss": 2.75, "perplexity": 15.6})) == 2.75
    assert float(TrainResult(tmp_path, 10, losses=[3.0, 2.5])) == 2.5  # no validation: the last training loss


def _compose_hydra(overrides):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def test_slurm_launcher_example_composes_with_the_submitit_plugin():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher is not installed (dev extra)")
    from hydra.utils import instantiate

    cfg = _compose_hydra(["+model=camembert_tiny", "hydra/launcher=slurm", "hydra.launcher.partition=gpu_p5",
                          "hydra.launcher.nodes=2", "run_name=big"])
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"  # the plugin's, not ours
    assert (launcher.partition, launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu_p5", 2, 8, 8)
    assert (launcher.timeout_min, launcher.max_num_timeout, launcher.signal_delay_s) == (2880, 20, 300)
    assert launcher.submitit_folder == "runs/big-multirun/.submitit/%j"
    built = instantiate(launcher)  # the plugin accepts every key (it would reject an unknown one)
    assert built.params["partition"] == "gpu_p5" and built.params["tasks_per_node"] == 8


def test_optuna_sweeper_example_composes():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="hydra-optuna-sweeper is not installed (dev extra)")
    cfg = _compose_hydra(["+model=camembert_tiny", "hydra/sweeper=optuna_lr"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert sweeper.direction == "minimize" and sweeper.n_trials == 8 and sweeper.sampler.seed == 0
    assert OmegaConf.to_container(sweeper.params) == {"trainer.optimizer.lr": "tag(log, interval(1e-4, 3e-3))",
                                                      "trainer.scheduler.warmup_steps": "range(0, 80, step=20)"}


@pytest.mark.slow
def test_optuna_example_runs_two_trials_and_minimizes_the_validation_loss(sample_artifacts, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="hydra-optuna-sweeper is not installed (dev extra)")
    runs = tmp_path / "runs"
    fixed = [o for o in SWEEP if not o.startswith("trainer.scheduler.warmup_steps=")]  # a command-line value would pin it
    done = run_cli(["train", "-m", *fixed, *sample_artifacts.paths(runs), "hydra/sweeper=optuna_lr", "hydra.sweeper.n_trials=2",
                    "hydra.sweep.subdir=lr-${trainer.optimizer.lr}-warmup-${trainer.scheduler.warmup_steps}"], cwd=tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    sweep = runs / "sweep-multirun"
    results = OmegaConf.to_container(OmegaConf.load(sweep / "optimization_results.yaml"))
    trials = {}
    for job in (p.parent.parent for p in sweep.glob("*/model/manifest.json")):
        manifest = json.loads((job / "model" / "manifest.json").read_text())
        trainer = manifest["config"]["trainer"]
        trials[(trainer["optimizer"]["lr"], trainer["scheduler"]["warmup_steps"])] = manifest["validation"]["loss"]
    assert len(trials) == 2
    assert 1e-4 <= min(lr for lr, _ in trials) and max(lr for lr, _ in trials) <= 3e-3
    assert {warmup for _, warmup in trials} <= {0, 20, 40, 60, 80}
    best = min(trials, key=trials.get)
    assert results["best_value"] == trials[best]  # Optuna got each job's final validation loss
    assert (results["best_params"]["trainer.optimizer.lr"], results["best_params"]["trainer.scheduler.warmup_steps"]) == best
    assert len(_csv_rows(sweep)) == 2


def test_a_finished_run_returns_its_recorded_objective_without_training(sample_artifacts, tmp_path):
    """A sweep run again (or an Optuna trial drawing the same values) gets the finished job's loss back."""
    torch.set_num_threads(1)
    cfg = compose_config("pipeline", [*TINY_RUN, *sample_artifacts.paths(tmp_path), "trainer.max_steps=2", "trainer.eval_every=2",
                                      "run_name=again"])
    first = train(cfg)
    metrics = (tmp_path / "again" / "metrics.jsonl").read_text()
    again = train(cfg)
    assert (tmp_path / "again" / "metrics.jsonl").read_text() == metrics  # nothing trained again
    assert float(again) == float(first) == first.validation["loss"]
    assert again.losses == first.losses and again.steps == 2 and again.validation == first.validation
