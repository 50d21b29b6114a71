"""Does pretraining pay? Pretrained vs random init, per task, mean over seeds, gain with Welch's 95% interval.

For one pretraining experiment (``conf/experiment/<name>.yaml``; default ``camembert_cpu`` when that file exists,
else ``quickstart``): trains the vocabulary, shards and model (reusing finished artifacts under ``--work``),
fine-tunes every task of the experiment from the final model and from the same architecture's random
initialisation (``finetune.init=random``) with each seed, optionally every kept checkpoint
(``--checkpoints all``: the pretraining-gain curve), writes the report and prints its gain table (and curve).
Run from the repository root (the experiments' sample paths are relative to it):

    PYTHONPATH=. python benchmarks/bench_pretraining_gain.py                       # camembert_cpu or quickstart, 3 seeds
    PYTHONPATH=. python benchmarks/bench_pretraining_gain.py quickstart --seeds 0 1 2 --checkpoints all
    PYTHONPATH=. python benchmarks/bench_pretraining_gain.py quickstart --tasks sentiment -- trainer.max_steps=200

Hydra overrides after ``--`` are applied to the composed ``pipeline`` config. The CI version of this is
``tests/evaluation/test_pretraining_gain.py`` (tiny settings, the shipped sample).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402

from workbench.config.store import register_configs  # noqa: E402
from workbench.config.typed import CONF_DIR, to_typed  # noqa: E402
from workbench.evaluation.comparisons import CURVE_HEADER, GAIN_HEADER, curve_rows, gain_cells  # noqa: E402
from workbench.stages.pretraining_gain import pretraining_gain  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def default_experiment() -> str:
    return "camembert_cpu" if (CONF_DIR / "experiment" / "camembert_cpu.yaml").exists() else "quickstart"


def _table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> None:
    argv = sys.argv[1:]
    overrides = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default=default_experiment(), help="conf/experiment/<name>.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="*", default=None, help="keys of the experiment's tasks (default: all)")
    parser.add_argument("--checkpoints", default=None, help="also fine-tune these checkpoints: all | last | '200,400'")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "results" / "pretraining_gain",
                        help="artifacts folder (tokenizers, shards, runs, evals); finished ones are reused")
    parser.add_argument("--threads", type=int, default=0, help="hardware.num_threads (0: torch's default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    work = args.work.resolve()
    paths = [f"paths.tokenizers={work}/tokenizers", f"paths.shards={work}/shards", f"paths.runs={work}/runs",
             f"paths.evals={work}/evals", f"hardware.num_threads={args.threads}"]
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = to_typed(compose(config_name="pipeline", overrides=[f"+experiment={args.experiment}", *paths, *overrides]))
    if args.tasks is not None:
        unknown = sorted(set(args.tasks) - set(cfg.tasks))
        if unknown:
            raise SystemExit(f"--tasks {unknown}: experiment {args.experiment} has tasks {sorted(cfg.tasks)}")
        cfg = dataclasses.replace(cfg, tasks={key: cfg.tasks[key] for key in args.tasks})
    if not cfg.tasks:
        raise SystemExit(f"experiment {args.experiment} lists no tasks (tasks.<key>): nothing to compare")

    os.chdir(REPO)
    started = time.perf_counter()
    study = pretraining_gain(cfg, args.seeds, args.checkpoints)
    comparisons = study.report.comparisons
    print(f"\n# {args.experiment}: pretrained vs random init, {len(args.seeds)} seeds ({time.perf_counter() - started:.0f} s)\n")
    print(_table(GAIN_HEADER, [gain_cells(gain) for gain in comparisons.gains]))
    if comparisons.baselines:
        print("\nmajority-class baseline: " + ", ".join(f"{t} {v:.1f}" for t, v in comparisons.baselines.items()))
    flagged = [(label, task, s.flags) for (label, task), s in study.report.leaderboard.summaries.items() if s.flags]
    for label, task, flags in flagged:
        print(f"flag: {label} on {task}: {', '.join(flags)}")
    if comparisons.curves:
        print("\n" + _table(CURVE_HEADER, curve_rows(comparisons.curves)))
    print(f"\nreport: {study.report.markdown}")


if __name__ == "__main__":
    main()
