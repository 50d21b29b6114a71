"""The summary table of a Hydra multirun of ``train``: ``<sweep dir>/summary.md`` and ``summary.csv``.

Rebuilt from disk after each job (by the train stage) and on demand (``python -m workbench sweep-summary
<sweep dir>``): every job folder of the sweep with a finished ``model/`` is a row (its overrides, final
training loss, best validation loss with the perplexity and MLM accuracy at that step, tokens/s, steps).
No Hydra callback is involved: a job knows it is part of a sweep from the ``.hydra/hydra.yaml`` Hydra writes
in its output folder, so the basic sweeper, the Optuna sweeper and the submitit launcher all get it.
Jobs running at the same time (submitit) each rewrite the whole table atomically from what is on disk.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from omegaconf import OmegaConf

from workbench.artifacts.atomic import write_text
from workbench.artifacts.model_folder import MANIFEST_FILE, is_model_folder
from workbench.training.metrics_log import read_metrics

log = logging.getLogger(__name__)

HYDRA_DIR = ".hydra"  # Hydra's default hydra.output_subdir
SUMMARY_MD = "summary.md"
SUMMARY_CSV = "summary.csv"


@dataclass
class JobSummary:
    folder: Path
    overrides: List[str]
    steps: int
    train_loss: Optional[float]  # the last logged training loss
    valid_loss: Optional[float]  # the best (lowest) validation loss
    valid_perplexity: Optional[float]  # at the step of the best validation loss
    valid_accuracy: Optional[float]  # MLM accuracy at that step
    valid_step: Optional[int]
    tokens_per_second: Optional[float]  # median over the logging windows


def sweep_dir_of(run_dir: Path) -> Optional[Path]:
    """The sweep folder when ``run_dir`` is a job of a Hydra multirun (None for a single run).

    Hydra writes ``<job dir>/.hydra/hydra.yaml`` before the job starts; its ``hydra.mode`` says MULTIRUN and
    ``hydra.sweep.subdir`` (resolved) is the job folder's path below the sweep folder.
    """
    hydra_file = Path(run_dir) / HYDRA_DIR / "hydra.yaml"
    if not hydra_file.exists():
        return None
    try:
        hydra = OmegaConf.load(hydra_file)
        if str(OmegaConf.select(hydra, "hydra.mode")) != "MULTIRUN":
            return None
        job_config = hydra_file.with_name("config.yaml")  # subdir may name job values: lr-${trainer.optimizer.lr}
        if job_config.exists():
            hydra = OmegaConf.merge(OmegaConf.load(job_config), hydra)
        subdir = OmegaConf.select(hydra, "hydra.sweep.subdir", throw_on_resolution_failure=False)
    except Exception as error:  # an unreadable file written by another Hydra version: no summary, no failure
        log.warning("%s: not read (%s); no sweep summary", hydra_file, error)
        return None
    run_dir = Path(run_dir).resolve()
    depth = len(Path(str(subdir)).parts) if subdir else 1
    if subdir and tuple(run_dir.parts[-depth:]) != Path(str(subdir)).parts:
        depth = 1  # the folder is not <sweep dir>/<subdir> (moved?): take its parent
    return run_dir.parents[depth - 1]


def _overrides(job: Path, sweep_dir: Path) -> List[str]:
    path = job / HYDRA_DIR / "overrides.yaml"
    if path.exists():
        return [str(item) for item in OmegaConf.to_container(OmegaConf.load(path))]
    return [str(job.relative_to(sweep_dir))]  # Hydra's default subdir is the override string itself


def summarize_job(job: Path, sweep_dir: Path) -> JobSummary:
    manifest = json.loads((job / "model" / MANIFEST_FILE).read_text(encoding="utf-8"))
    train = [row for row in read_metrics(job, "train") if row.get("loss") is not None]
    valid = [row for row in read_metrics(job, "valid") if row.get("loss") is not None]
    best = min(valid, key=lambda row: row["loss"]) if valid else None
    speeds = [row["tokens_per_second"] for row in train if row.get("tokens_per_second")]
    return JobSummary(
        folder=job,
        overrides=_overrides(job, sweep_dir),
        steps=int(manifest.get("steps", train[-1]["step"] if train else 0)),
        train_loss=train[-1]["loss"] if train else None,
        valid_loss=best["loss"] if best else None,
        valid_perplexity=best.get("perplexity") if best else None,
        valid_accuracy=best.get("mlm_accuracy") if best else None,
        valid_step=best["step"] if best else None,
        tokens_per_second=statistics.median(speeds) if speeds else None,
    )


def collect(sweep_dir: Path) -> tuple[List[JobSummary], List[Path]]:
    """(finished jobs sorted by best validation loss, job folders without a finished model)."""
    sweep_dir = Path(sweep_dir)
    finished = sorted({p.parent.parent for p in sweep_dir.rglob(f"model/{MANIFEST_FILE}") if is_model_folder(p.parent)})
    jobs = [summarize_job(job, sweep_dir) for job in finished]
    jobs.sort(key=lambda j: (j.valid_loss is None, j.valid_loss if j.valid_loss is not None else 0.0, str(j.folder)))
    started = {p.parent for p in sweep_dir.rglob(HYDRA_DIR) if p.is_dir()}
    unfinished = sorted(started - set(finished))
    return jobs, unfinished


def _common(jobs: List[JobSummary]) -> List[str]:
    """Overrides every listed job shares (shown once above the table, not in each row)."""
    if not jobs:
        return []
    shared = set(jobs[0].overrides).intersection(*(j.overrides for j in jobs[1:]))
    return [o for o in jobs[0].overrides if o in shared]


def _number(value: Optional[float], digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render(sweep_dir: Path, jobs: List[JobSummary], unfinished: List[Path]) -> tuple[str, str]:
    """(markdown, csv) of the sweep."""
    sweep_dir = Path(sweep_dir)
    common = _common(jobs)
    varying = [[o for o in job.overrides if o not in common] for job in jobs]
    columns = ["#", "overrides", "steps", "train loss", "valid loss", "valid ppl", "valid MLM acc", "at step", "tokens/s", "run folder"]
    lines = [
        f"# Sweep summary: {sweep_dir.name}",
        "",
        f"{len(jobs)} finished job(s), best validation loss first (perplexity and MLM accuracy at the step of that loss;"
        " train loss: the last logged; tokens/s: median over the logging windows).",
    ]
    if common:
        lines.append("Overrides shared by every job: " + " ".join(f"`{o}`" for o in common))
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for rank, (job, own) in enumerate(zip(jobs, varying), start=1):
        cells = [
            str(rank), " ".join(f"`{o}`" for o in own).replace("|", "\\|"), str(job.steps), _number(job.train_loss, 4),
            _number(job.valid_loss, 4), _number(job.valid_perplexity, 2), _number(job.valid_accuracy, 4),
            "" if job.valid_step is None else str(job.valid_step),
            "" if job.tokens_per_second is None else f"{job.tokens_per_second:,.0f}", str(job.folder.relative_to(sweep_dir)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if unfinished:
        lines += ["", "Not finished (running, interrupted or failed): " + ", ".join(f"`{p.relative_to(sweep_dir)}`" for p in unfinished)]
    markdown = "\n".join(lines) + "\n"

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "overrides", "all_overrides", "steps", "train_loss", "valid_loss", "valid_perplexity",
                     "valid_mlm_accuracy", "valid_step", "tokens_per_second", "run_folder"])
    for rank, (job, own) in enumerate(zip(jobs, varying), start=1):
        row = [rank, " ".join(own), " ".join(job.overrides), job.steps, job.train_loss, job.valid_loss,
               job.valid_perplexity, job.valid_accuracy, job.valid_step, job.tokens_per_second,
               str(job.folder.relative_to(sweep_dir))]
        writer.writerow(["" if value is None else value for value in row])
    return markdown, buffer.getvalue()


def write_summary(sweep_dir: Path) -> Path:
    """(Re)write ``summary.md`` and ``summary.csv`` in ``sweep_dir`` atomically; returns the markdown path."""
    sweep_dir = Path(sweep_dir)
    markdown, table = render(sweep_dir, *collect(sweep_dir))
    write_text(sweep_dir / SUMMARY_CSV, table)
    write_text(sweep_dir / SUMMARY_MD, markdown)
    return sweep_dir / SUMMARY_MD


def main(argv: List[str]) -> int:
    """``python -m workbench sweep-summary <sweep dir>``: rebuild the files and print the table."""
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m workbench sweep-summary <sweep dir>   (e.g. runs/quickstart-multirun)", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    sweep_dir = Path(argv[0])
    if not sweep_dir.is_dir():
        print(f"workbench sweep-summary: error: {sweep_dir} is not a folder; pass a multirun's sweep folder"
              " (hydra.sweep.dir, e.g. runs/<run_name>-multirun)", file=sys.stderr)
        return 2
    path = write_summary(sweep_dir)
    print(path.read_text(encoding="utf-8"), end="")
    return 0
