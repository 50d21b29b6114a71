"""Pretraining throughput: the workbench loop vs a plain transformers loop, same model, data, batch and optimizer.

workbench: ``workbench.training.loop.pretrain`` (the real loop: shard loader, per-sample seeded masking,
forward/backward, AdamW, schedule, metrics) on the shipped French sample.
transformers: ``CamembertForMaskedLM`` (the same architecture, exported config) fed the same sequences through
``DataCollatorForLanguageModeling`` (padding + 80/10/10 masking, the same 15% rate), ``torch.optim.AdamW`` with
the same groups and hyperparameters (fused, as the Trainer's default), the same linear schedule and gradient
clipping, in a plain loop. Dropout is on in both. The model has CamemBERT's 32,005-row vocabulary on both sides
(``--vocab``; the sample tokenizer itself has 3,000 ids, which both sides' masking draws from).

Both use one thread and run in alternating rounds (background load hits both alike); tokens/s counts real
(non-padding) tokens per second of whole steps (data included; on the workbench side the loop's own figure, wall
time from one step's end to the next, so its logging and progress bar count too); the median over steps is
printed, with the share of step time spent on data (reading, collating, masking).

    python benchmarks/bench_pretrain.py                       # camembert small, batch 16 x 128, 3 rounds of 8 steps
    python benchmarks/bench_pretrain.py --size tiny --rounds 2 --steps 6
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402

from workbench.artifacts.layout import shards_dir, tokenizer_dir  # noqa: E402
from workbench.config.store import register_configs  # noqa: E402
from workbench.config.typed import CONF_DIR, to_typed  # noqa: E402
from workbench.corpus.loader import BatchLoader  # noqa: E402
from workbench.corpus.shards import ShardSet  # noqa: E402
from workbench.interop.hf_config import to_hf_config  # noqa: E402
from workbench.stages.prepare import prepare_shards  # noqa: E402
from workbench.stages.tokenizer import train_vocabulary  # noqa: E402
from workbench.tokenization.tokenizer import Tokenizer  # noqa: E402
from workbench.training.distributed import Runtime  # noqa: E402
from workbench.training.loop import pretrain, resolve_encoder_config  # noqa: E402
from workbench.training.metrics_log import read_metrics  # noqa: E402
from workbench.training.optimizer import parameter_groups  # noqa: E402
from workbench.training.schedule import build_scheduler  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def configure(work: Path, args):
    overrides = [
        f"+model=camembert_{args.size}", f"paths.tokenizers={work}/tokenizers", f"paths.shards={work}/shards",
        f"paths.runs={work}/runs", f"packing.max_seq_len={args.seq}", "trainer=quickstart",
        f"trainer.global_batch_size={args.batch}", f"trainer.micro_batch_size={args.batch}",
        "trainer.log_every=1", "trainer.eval_every=0", "trainer.checkpoint_every=1000000", "hardware.num_threads=1",
    ]
    if args.vocab:  # CamemBERT's embedding table (32,005 rows) over the small sample tokenizer's ids
        overrides.append(f"model.vocab_size={args.vocab}")
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return to_typed(compose(config_name="pipeline", overrides=overrides))


def ours_round(cfg, tokenizer, shards, work: Path, round_index: int, steps: int):
    """One fresh run of the real loop; per-step (tokens/s, data share) from its metrics, first step dropped."""
    cfg.trainer.max_steps = steps + 1
    run = work / "runs" / f"ours-{round_index}"
    pretrain(cfg, tokenizer, shards, run, Runtime(0, 1, 0, torch.device("cpu")))
    rows = read_metrics(run, "train")[1:]
    return [r["tokens_per_second"] for r in rows], [r["data_fraction"] for r in rows]


def hf_round(cfg, tokenizer_path: Path, shards, steps: int):
    from transformers import AutoTokenizer, CamembertConfig, CamembertForMaskedLM, DataCollatorForLanguageModeling

    hf_tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
    tokenizer = Tokenizer.load(tokenizer_path)
    encoder_config = resolve_encoder_config(cfg.model, tokenizer)
    hf_config = to_hf_config(encoder_config)
    hf_config.pop("architectures", None)
    hf_config.pop("model_type", None)
    torch.manual_seed(cfg.seed)
    model = CamembertForMaskedLM(CamembertConfig(**hf_config))
    model.train()
    o = cfg.trainer.optimizer
    # the transformers Trainer default (torch >= 2.8: adamw_torch_fused), the kernel build_optimizer picks on CPU too
    optimizer = torch.optim.AdamW(parameter_groups(model, o.weight_decay), lr=o.lr, betas=tuple(o.betas), eps=o.eps, fused=True)
    scheduler = build_scheduler(optimizer, cfg.trainer.scheduler, steps + 1)
    collator = DataCollatorForLanguageModeling(hf_tokenizer, mlm=True, mlm_probability=cfg.trainer.objective.mlm_probability)
    loader = BatchLoader(shards.split("train"), cfg.trainer.micro_batch_size, seed=cfg.seed, pad_id=tokenizer.pad_id)
    batches = iter(loader)
    rates, shares = [], []
    for index in range(steps + 1):
        started = time.perf_counter()
        raw = next(batches)
        lengths = raw["attention_mask"].sum(dim=1).tolist()
        examples = [{"input_ids": row[:n].tolist()} for row, n in zip(raw["input_ids"], lengths)]
        batch = collator(examples)
        data_seconds = time.perf_counter() - started
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - started
        if index > 0:
            rates.append(sum(lengths) / elapsed)
            shares.append(data_seconds / elapsed)
    return rates, shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round (one untimed step first)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=32005,
                        help="model vocabulary rows, both sides (CamemBERT's 32,005); 0: the sample tokenizer's size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg = configure(work, args)
        cwd = os.getcwd()
        os.chdir(REPO)  # the sample corpus paths in conf/ are relative to the repository root
        try:
            train_vocabulary(cfg)
            prepare_shards(cfg)
        finally:
            os.chdir(cwd)
        tokenizer = Tokenizer.load(tokenizer_dir(cfg))
        shards = ShardSet.open(shards_dir(cfg))
        ours_rates, ours_shares, hf_rates, hf_shares = [], [], [], []
        for round_index in range(args.rounds):  # alternate, so background load hits both alike
            rates, shares = ours_round(cfg, tokenizer, shards, work, round_index, args.steps)
            ours_rates += rates
            ours_shares += shares
            rates, shares = hf_round(cfg, tokenizer_dir(cfg), shards, args.steps)
            hf_rates += rates
            hf_shares += shares
    ours, theirs = statistics.median(ours_rates), statistics.median(hf_rates)
    vocab = f"vocab {args.vocab}" if args.vocab else "the sample tokenizer's vocab"
    print(f"camembert_{args.size} ({vocab}), batch {args.batch} x <= {args.seq} tokens (shipped French sample), 1 thread,"
          f" {args.rounds} alternating rounds x {args.steps} steps, median per step")
    print(f"{'':<28}{'tokens/s':>12}{'(min - max)':>20}{'data share':>12}")
    for name, rates, shares in (("workbench pretrain loop", ours_rates, ours_shares), ("transformers plain loop", hf_rates, hf_shares)):
        spread = f"{min(rates):,.0f} - {max(rates):,.0f}"
        print(f"{name:<28}{statistics.median(rates):>12,.0f}{spread:>20}{statistics.median(shares):>11.1%}")
    print(f"ratio workbench / transformers: {ours / theirs:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
