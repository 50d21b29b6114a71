"""Write the unlabeled TRAINING text of an experiment's tasks to one plain-text file, one example per line,
for self-/domain-pretraining (Krishna et al. 2022, "Downstream Datasets Make Surprisingly Good Pretraining
Corpora"; issue #17 section 4).

Only ``data.train`` is written, exactly the split fine-tuning trains on (the dev and test splits carved from
train are left out by workbench's own reader with the task's split seed); labels are never written. NER
sentences are written as their tokens joined by spaces; pair tasks write both texts on one line.

    python scripts/task_train_text.py runs/task-text/train.txt +experiment=camembert_cpu
    python -m workbench prepare +experiment=camembert_cpu corpus=prose_and_task_text

The output is written to a temporary name, then renamed (workbench.artifacts.atomic).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from workbench.artifacts.atomic import write_text
from workbench.config.resolvers import register_resolvers
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, to_typed
from workbench.evaluation.examples import TaggedSentence
from workbench.evaluation.readers import load_task


def example_text(example) -> str:
    if isinstance(example, TaggedSentence):
        text = " ".join(example.tokens)
    else:
        pair = getattr(example, "pair", None)
        text = example.text if not pair else f"{example.text} {pair}"
    return " ".join(text.split())  # one example per line: no newlines inside


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="text file to write (git-ignored, e.g. under runs/)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides naming the tasks, e.g. +experiment=camembert_cpu")
    args = parser.parse_args(argv)
    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = to_typed(compose(config_name="pipeline", overrides=args.overrides))
    tasks = dict(cfg.tasks) if cfg.tasks else ({cfg.task.name: cfg.task} if cfg.task is not None else {})
    if not tasks:
        raise SystemExit("no tasks in the composed config: pass +experiment=<name> or task=<name>")
    lines = []
    for key, task in tasks.items():
        data = load_task(task, Path.cwd())
        texts = [example_text(example) for example in data.train]
        lines.extend(text for text in texts if text)
        print(f"{key} ({task.name}): {len(texts)} training examples, {sum(len(t) for t in texts):,} characters")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.output, "\n".join(lines) + "\n")
    print(f"wrote {len(lines)} lines to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
