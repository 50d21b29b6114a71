"""The transformers reference of issue #17 section 1(d): the tiny ``+experiment=camembert_cpu`` configuration
pretrained in a run_mlm-style loop and fine-tuned with transformers' ``Trainer``, on the same data, tokens and
steps as workbench, to see whether pretraining gains or loses with the same sign (docs/pretraining_gain.md,
"Section 1(d): the transformers reference").

    python scripts/transformers_reference.py pretrain /tmp/tf-ref --steps 3000
    python scripts/transformers_reference.py finetune /tmp/tf-ref --json /tmp/tf-ref/allocine.json --seeds 0,1,2
    python scripts/transformers_reference.py table a.json b.json --json all.json   # jobs run as separate processes

``pretrain`` builds transformers' own ``XLMRobertaXLForMaskedLM`` (pre-norm RoBERTa: a LayerNorm before
attention and before the FFN in every layer, a final LayerNorm after the last layer; the closest transformers
class to workbench's ``norm_position=pre, final_norm=true`` encoder, which ``RobertaForMaskedLM`` /
``CamembertForMaskedLM`` (post-norm) are not; workbench's exporter refuses pre-norm RoBERTa/CamemBERT
(``workbench/interop/hf_config.py``). The one layout difference: workbench also normalises the embeddings,
XLM-R XL does not) sized from the run's ``model/model_config.json`` and initialised by transformers' own
``_init_weights`` (N(0, initializer_range)), not workbench's weights. Data: the run's prepared shard set,
read with ``workbench.corpus.shards.ShardSet`` (read-only), its train sequences in an order shuffled by
``--data-seed``, batches of ``trainer.global_batch_size`` (32) sequences, masked by transformers'
``DataCollatorForLanguageModeling`` at ``trainer.objective.mlm_probability`` (0.4); ``torch.optim.AdamW``
with the trainer's lr, betas, eps and weight decay (2-D weights decay, biases and norms do not, as workbench's
``parameter_groups``), gradient clipping ``trainer.grad_clip``, ``get_linear_schedule_with_warmup(warmup,
trainer.max_steps)`` stopped after ``--steps`` (so at 3,000 the lr equals workbench's run at its checkpoint
3,000); bf16 autocast where the CPU computes bf16 natively (as ``hardware.precision=auto``), else fp32. Train
loss every 100 steps, the masked-LM loss / accuracy of the first ``trainer.eval_batches`` x 32 validation
sequences (the sequences workbench validates on; transformers' masks) at the end, ``save_pretrained``. Output:
``OUT/model`` (model + tokenizer), ``OUT/run`` (metrics.jsonl, summary.json, provenance.json) and, with
``--save-every N``, ``OUT/checkpoints/step-N`` (model, tokenizer, the log so far). Speed: 0.95 CPU s a step on one
thread of the development CPU (workbench's loop: 0.4; transformers computes MLM logits at every position).

``finetune`` runs transformers' ``Trainer`` on ``AutoModelForSequenceClassification`` from the pretrained
folder and from a fresh config (random init, seeded by the seed) for each seed, on the task's examples exactly as
workbench's reader gives them (``load_task`` of the experiment's ``tasks.<key>``: Allocine train / dev
``test_data_allocine.csv`` / test ``test_data_allocine_full.csv``), tokenized by the run's tokenizer through
``AutoTokenizer`` (truncated to ``task.max_seq_len``: the same ids as workbench's features,
``tests/scripts/test_transformers_reference.py``), with workbench's resolved fine-tuning hyperparameters (lr,
epochs, batch size, warmup ratio, weight decay), an evaluation and a checkpoint per epoch,
``load_best_model_at_end`` on dev accuracy, then test accuracy. It prints per-seed dev/test accuracy, the means
and the gain (pretrained minus random init, test) with Welch's 95% interval
(``workbench.evaluation.intervals``), and writes them as json.

Single thread (``--threads``, default 1). Every output is written under a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Sequence

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from workbench.artifacts.atomic import atomic_dir, write_json
from workbench.artifacts.provenance import provenance
from workbench.config.resolvers import register_resolvers
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, to_typed
from workbench.corpus.shards import ShardSet
from workbench.evaluation.intervals import welch_difference
from workbench.hardware.cpu_features import cpu_features
from workbench.hardware.precision import auto_precision
from workbench.training.optimizer import parameter_groups

RUN = Path("/work/main/runs/s3-prose")
SHARDS = Path("/work/main/corpora/prepared/french_prose_eltec-sentencepiece-bpe-fr-8k-full_sentences128")
EXPERIMENT = ["+experiment=camembert_cpu"]


def compose_config(overrides: Sequence[str]):
    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return to_typed(compose(config_name="pipeline", overrides=list(overrides)))


def hf_config_fields(model_config: Dict) -> Dict:
    """XLMRobertaXLConfig fields for a workbench pre-norm CamemBERT ``model_config.json``."""
    if model_config["norm_position"] != "pre" or not model_config["final_norm"]:
        raise SystemExit("model_config.json: the reference is for pre-norm encoders with a final norm"
                         f" (norm_position=pre, final_norm=true), got {model_config['norm_position']}, {model_config['final_norm']}")
    return {
        "vocab_size": model_config["vocab_size"],
        "hidden_size": model_config["hidden_size"],
        "num_hidden_layers": model_config["num_layers"],
        "num_attention_heads": model_config["num_heads"],
        "intermediate_size": model_config["intermediate_size"],
        "hidden_act": {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu"}[model_config["activation"]],
        "hidden_dropout_prob": model_config["dropout"],
        "attention_probs_dropout_prob": model_config["attention_dropout"],
        "max_position_embeddings": model_config["max_positions"] + model_config["position_offset"],
        "type_vocab_size": model_config["type_vocab_size"],
        "initializer_range": model_config["initializer_range"],
        "layer_norm_eps": model_config["layer_norm_eps"],
        "pad_token_id": model_config["pad_token_id"],
        "bos_token_id": 0,
        "eos_token_id": 2,
        "tie_word_embeddings": model_config["tie_word_embeddings"],
    }


def precision_context(precision: str):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def sequence_batches(split, batch_size: int, seed: int) -> Iterator[List[Dict[str, List[int]]]]:
    """Batches of ``batch_size`` train sequences, epoch after epoch, each epoch in its own shuffled order."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(split))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield [{"input_ids": split[int(i)].tolist()} for i in order[start:start + batch_size]]


@torch.no_grad()
def masked_lm_eval(model, batches, precision: str) -> Dict[str, float]:
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for batch in batches:
        with precision_context(precision):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"]
        picked = labels != -100
        logits = logits.float()[picked]
        gold = labels[picked]
        loss_sum += float(torch.nn.functional.cross_entropy(logits, gold, reduction="sum"))
        correct += int((logits.argmax(-1) == gold).sum())
        count += int(picked.sum())
    model.train()
    loss = loss_sum / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "mlm_accuracy": correct / max(count, 1), "masked_tokens": count}


def pretrain(args) -> None:
    from transformers import (AutoTokenizer, DataCollatorForLanguageModeling, XLMRobertaXLConfig,
                              XLMRobertaXLForMaskedLM, get_linear_schedule_with_warmup)

    torch.set_num_threads(args.threads)
    cfg = compose_config(EXPERIMENT)
    trainer = cfg.trainer
    model_config = json.loads((args.run / "model" / "model_config.json").read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(str(args.run / "model" / "tokenizer"))
    if len(tokenizer) != model_config["vocab_size"]:
        raise SystemExit(f"{args.run}/model/tokenizer has {len(tokenizer)} ids, model_config.json {model_config['vocab_size']}")
    precision = args.precision if args.precision != "auto" else auto_precision("cpu", cpu_features())
    torch.manual_seed(args.seed)
    model = XLMRobertaXLForMaskedLM(XLMRobertaXLConfig(**hf_config_fields(model_config)))  # transformers' own init
    shards = ShardSet.open(args.shards)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=trainer.objective.mlm_probability, seed=args.seed)
    opt = trainer.optimizer
    optimizer = torch.optim.AdamW(parameter_groups(model, opt.weight_decay), lr=opt.lr, betas=tuple(opt.betas), eps=opt.eps)
    scheduler = get_linear_schedule_with_warmup(optimizer, trainer.scheduler.warmup_steps, trainer.max_steps)
    valid_collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=trainer.objective.mlm_probability, seed=args.seed + 1)
    valid = shards.split("valid")
    n_valid = min(len(valid), trainer.eval_batches * trainer.global_batch_size)
    valid_batches = [valid_collator([{"input_ids": valid[i].tolist()} for i in range(s, min(s + trainer.global_batch_size, n_valid))])
                     for s in range(0, n_valid, trainer.global_batch_size)]

    log_rows: List[Dict] = []
    print(f"transformers reference: XLMRobertaXLForMaskedLM {sum(p.numel() for p in model.parameters()):,} parameters,"
          f" {precision}, {args.steps} of {trainer.max_steps} scheduled steps, {args.threads} thread(s)", flush=True)
    model.train()
    started, cpu_started = time.perf_counter(), time.process_time()
    window, window_correct, window_count = [], 0, 0
    batches = sequence_batches(shards.split("train"), trainer.global_batch_size, args.data_seed)
    tokens = 0
    for step in range(1, args.steps + 1):
        batch = collator(next(batches))
        tokens += int(batch["attention_mask"].sum())
        with precision_context(precision):
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        out.loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), trainer.grad_clip))
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        window.append(float(out.loss.detach()))
        if step % args.log_every == 0 or step == args.steps:
            row = {"step": step, "split": "train", "loss": statistics.fmean(window), "lr": lr, "grad_norm": grad_norm,
                   "wall_seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started,
                   "tokens": tokens}
            log_rows.append(row)
            print(json.dumps(row), flush=True)
            window = []
        if args.save_every and step % args.save_every == 0 and step < args.steps:
            # a usable intermediate model (a stopped run is not lost): checkpoints/step-N, its validation row in the log
            log_rows.append({"step": step, "split": "valid", "sequences": n_valid, **masked_lm_eval(model, valid_batches, precision)})
            print(json.dumps(log_rows[-1]), flush=True)
            with atomic_dir(args.out / "checkpoints" / f"step-{step:08d}", overwrite=True) as tmp:
                model.save_pretrained(str(tmp))
                tokenizer.save_pretrained(str(tmp))
                (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log_rows), encoding="utf-8")
    train_wall, train_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    valid_row = {"step": args.steps, "split": "valid", "sequences": n_valid, **masked_lm_eval(model, valid_batches, precision)}
    log_rows.append(valid_row)
    print(json.dumps(valid_row), flush=True)
    summary = {"steps": args.steps, "scheduled_steps": trainer.max_steps, "precision": precision, "threads": args.threads,
               "train_wall_seconds": train_wall, "train_cpu_seconds": train_cpu, "steps_per_second": args.steps / train_wall,
               "tokens": tokens, "final_train_loss": next(r["loss"] for r in reversed(log_rows) if r["split"] == "train"),
               "valid": valid_row,
               "model_class": type(model).__name__, "shards": str(args.shards), "run": str(args.run)}
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_dir(args.out / "model", overwrite=True) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    with atomic_dir(args.out / "run", overwrite=True) as tmp:
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log_rows), encoding="utf-8")
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "provenance.json", provenance({"args": {k: str(v) for k, v in vars(args).items()},
                                                        "trainer": dataclasses.asdict(trainer), "model_config": model_config}))
    print(f"saved {args.out}/model ({train_wall:.0f} s wall, {train_cpu:.0f} s CPU, {args.steps / train_wall:.2f} steps/s)", flush=True)


def task_encodings(tokenizer, examples, labels: Sequence[str], max_seq_len: int) -> List[Dict]:
    """``{"input_ids", "attention_mask", "labels"}`` of text-classification examples: transformers' tokenizer
    with truncation to ``max_seq_len`` (workbench's features give the same ids)."""
    label_ids = {label: index for index, label in enumerate(labels)}
    texts = [example.text for example in examples]
    pairs = [example.pair for example in examples]
    if any(pair is not None for pair in pairs):
        encoded = tokenizer(texts, pairs, truncation=True, max_length=max_seq_len)
    else:
        encoded = tokenizer(texts, truncation=True, max_length=max_seq_len)
    return [{"input_ids": ids, "attention_mask": mask, "labels": label_ids[example.label]}
            for ids, mask, example in zip(encoded["input_ids"], encoded["attention_mask"], examples)]


def gain_summary(pretrained: Sequence[float], random: Sequence[float]) -> Dict:
    """Means, sample standard deviations and the pretrained-minus-random gain with Welch's 95% interval."""
    def sd(values):
        return statistics.stdev(values) if len(values) > 1 else 0.0

    diff = welch_difference(statistics.fmean(pretrained), sd(pretrained), len(pretrained),
                            statistics.fmean(random), sd(random), len(random))
    return {"pretrained_mean": statistics.fmean(pretrained), "pretrained_sd": sd(pretrained),
            "random_mean": statistics.fmean(random), "random_sd": sd(random),
            "gain": diff.value, "interval": list(diff.interval) if diff.interval else None, "df": diff.df}


def table_text(result: Dict) -> str:
    lines = [f"{result['task']}: transformers Trainer, lr {result['hyperparameters']['lr']}, "
             f"{result['hyperparameters']['epochs']} epochs, batch {result['hyperparameters']['batch_size']}",
             "| init | seed | dev acc | test acc | best epoch |", "|---|---|---|---|---|"]
    for job in sorted(result["jobs"], key=lambda j: (j["init"], j["seed"])):
        lines.append(f"| {job['init']} | {job['seed']} | {job['dev_accuracy']:.2f} | {job['test_accuracy']:.2f} | {job['best_epoch']} |")
    for init in ("pretrained", "random"):
        jobs = [j for j in result["jobs"] if j["init"] == init]
        if jobs:
            lines.append(f"| {init} | mean | {statistics.fmean(j['dev_accuracy'] for j in jobs):.2f} |"
                         f" {statistics.fmean(j['test_accuracy'] for j in jobs):.2f} | |")
    gain = result.get("gain")
    if gain:
        interval = gain["interval"]
        span = f"[{interval[0]:+.2f}, {interval[1]:+.2f}] (Welch 95%, df {gain['df']:.1f})" if interval else "(no interval: one seed)"
        lines.append(f"gain (pretrained - random, test): {gain['gain']:+.2f} points {span}")
    return "\n".join(lines)


def merge_results(results: Sequence[Dict]) -> Dict:
    """One table from the json of several ``finetune`` invocations (e.g. seeds run as parallel processes): the same
    task and hyperparameters, each (init, seed) once; the gain recomputed over all jobs."""
    merged = {**results[0], "jobs": []}
    for result in results:
        if (result["task"], result["hyperparameters"]) != (merged["task"], merged["hyperparameters"]):
            raise SystemExit(f"cannot merge {result['task']} jobs of hyperparameters {result['hyperparameters']}"
                             f" with {merged['task']} jobs of {merged['hyperparameters']}")
        for job in result["jobs"]:
            if any((j["init"], j["seed"]) == (job["init"], job["seed"]) for j in merged["jobs"]):
                raise SystemExit(f"{job['init']} seed {job['seed']} appears in more than one result")
            merged["jobs"].append(job)
    pretrained = [j["test_accuracy"] for j in merged["jobs"] if j["init"] == "pretrained"]
    random = [j["test_accuracy"] for j in merged["jobs"] if j["init"] == "random"]
    merged["gain"] = gain_summary(pretrained, random) if pretrained and random else None
    merged["merged_from"] = [r.get("ref") for r in results]
    return merged


def table(args) -> None:
    merged = merge_results([json.loads(path.read_text(encoding="utf-8")) for path in args.results])
    write_json(args.json, merged)
    print(table_text(merged), flush=True)


def finetune(args) -> None:
    from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments)

    from workbench.evaluation.hyperparameters import resolve_hyperparameters
    from workbench.evaluation.readers import load_task

    torch.set_num_threads(args.threads)
    cfg = compose_config(EXPERIMENT + args.overrides)
    task = cfg.tasks[args.task]
    hp = resolve_hyperparameters(task, cfg.finetune)
    folder = args.ref / "model"
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    data = load_task(task, Path.cwd())
    train = task_encodings(tokenizer, data.train, data.labels, hp.max_seq_len)
    dev = task_encodings(tokenizer, data.dev, data.labels, hp.max_seq_len)
    test = task_encodings(tokenizer, data.tests["test"], data.labels, hp.max_seq_len)
    precision = args.precision if args.precision != "auto" else auto_precision("cpu", cpu_features())
    print(f"{task.name}: {len(train)} train / {len(dev)} dev / {len(test)} test, {hp}, {precision}", flush=True)

    def accuracy(prediction) -> Dict[str, float]:
        return {"accuracy": 100.0 * float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean())}

    result = {"task": task.name, "ref": str(args.ref), "precision": precision, "hyperparameters": hp.as_dict(),
              "n_examples": {"train": len(train), "dev": len(dev), "test": len(test)}, "jobs": []}
    if args.json.exists():  # an earlier invocation (e.g. the random-init jobs run alongside pretraining): keep its jobs
        earlier = json.loads(args.json.read_text(encoding="utf-8"))
        if (earlier["task"], earlier["hyperparameters"]) != (result["task"], result["hyperparameters"]):
            raise SystemExit(f"{args.json} holds {earlier['task']} jobs with other hyperparameters"
                             f" ({earlier['hyperparameters']}); name another --json")
        result["jobs"] = earlier["jobs"]
    for init in args.inits.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            if any((j["init"], j["seed"]) == (init, seed) for j in result["jobs"]):
                print(f"{init} seed {seed}: already in {args.json}", flush=True)
                continue
            def model_init(init=init):
                # called by Trainer after set_seed(seed): the head (and the random init) depend on the seed
                if init == "pretrained":
                    return AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=len(data.labels))
                config = AutoConfig.from_pretrained(str(folder), num_labels=len(data.labels))
                return AutoModelForSequenceClassification.from_config(config)  # transformers' own random init

            work = args.work / f"{task.name}-{init}-seed{seed}"
            training = TrainingArguments(
                output_dir=str(work), learning_rate=hp.lr, num_train_epochs=hp.epochs,
                per_device_train_batch_size=hp.batch_size, per_device_eval_batch_size=64,
                warmup_steps=hp.warmup_ratio, weight_decay=hp.weight_decay, lr_scheduler_type="linear",
                adam_beta1=hp.adam_betas[0], adam_beta2=hp.adam_betas[1], adam_epsilon=hp.adam_eps, max_grad_norm=hp.grad_clip,
                eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True, metric_for_best_model="accuracy",
                greater_is_better=True, save_total_limit=2, save_only_model=True, seed=seed, use_cpu=True,
                bf16=precision == "bf16", report_to="none", logging_steps=50, dataloader_num_workers=0,
                train_sampling_strategy="group_by_length", disable_tqdm=True,
            )
            started, cpu_started = time.perf_counter(), time.process_time()
            trainer = Trainer(model_init=lambda: model_init(), args=training, train_dataset=train, eval_dataset=dev,
                              data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8), compute_metrics=accuracy)
            trainer.train()
            evals = [row for row in trainer.state.log_history if "eval_accuracy" in row]  # one per epoch
            dev_scores = trainer.evaluate(dev)
            test_scores = trainer.evaluate(test, metric_key_prefix="test")
            best = max(evals, key=lambda row: row["eval_accuracy"])  # the first best epoch, as load_best_model_at_end
            job = {"init": init, "seed": seed, "model": str(folder), "dev_accuracy": dev_scores["eval_accuracy"],
                   "test_accuracy": test_scores["test_accuracy"], "best_epoch": round(best["epoch"], 2),
                   "dev_per_epoch": [row["eval_accuracy"] for row in evals],
                   "wall_seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started}
            result["jobs"].append(job)
            print(json.dumps(job), flush=True)
            pretrained = [j["test_accuracy"] for j in result["jobs"] if j["init"] == "pretrained"]
            random = [j["test_accuracy"] for j in result["jobs"] if j["init"] == "random"]
            result["gain"] = gain_summary(pretrained, random) if pretrained and random else None
            write_json(args.json, {**result, "provenance": provenance({"args": {k: str(v) for k, v in vars(args).items()},
                                                                     "task": dataclasses.asdict(task)})})
    print(table_text(result), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="run_mlm-style pretraining of XLMRobertaXLForMaskedLM")
    p.add_argument("out", type=Path, help="output folder (model/, metrics.jsonl, summary.json, provenance.json)")
    p.add_argument("--steps", type=int, default=3000, help="stop after this many steps of the scheduled trainer.max_steps")
    p.add_argument("--run", type=Path, default=RUN, help="workbench run whose model_config.json and tokenizer to use")
    p.add_argument("--shards", type=Path, default=SHARDS, help="workbench shard set (read-only)")
    p.add_argument("--seed", type=int, default=0, help="model init and masking seed")
    p.add_argument("--data-seed", type=int, default=0, help="order of the train sequences")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--save-every", type=int, default=0, help="also save checkpoints/step-N (with a validation row) every N steps")
    p.set_defaults(func=pretrain)
    f = sub.add_parser("finetune", help="Trainer fine-tuning of the pretrained folder and of a random init")
    f.add_argument("ref", type=Path, help="the pretrain output folder (its model/ is fine-tuned)")
    f.add_argument("--json", type=Path, required=True,
                   help="result table as json, rewritten after every job; jobs (init, seed) already in it are kept and skipped")
    f.add_argument("--task", default="allocine", help="key of the experiment's tasks: allocine, cls_books, cls_dvd")
    f.add_argument("--seeds", default="0,1,2")
    f.add_argument("--inits", default="pretrained,random")
    f.add_argument("--work", type=Path, default=Path("/tmp/transformers-reference-trainer"), help="Trainer checkpoints")
    f.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    f.add_argument("--threads", type=int, default=1)
    f.add_argument("overrides", nargs="*", help="Hydra overrides after +experiment=camembert_cpu, e.g. finetune.lr=3e-4")
    f.set_defaults(func=finetune)
    t = sub.add_parser("table", help="merge the json of several finetune invocations into one table")
    t.add_argument("results", type=Path, nargs="+", help="json files written by finetune --json")
    t.add_argument("--json", type=Path, required=True, help="merged table as json")
    t.set_defaults(func=table)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
