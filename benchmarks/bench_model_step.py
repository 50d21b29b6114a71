"""One pretraining step (forward + backward + AdamW) of workbench vs transformers, same config and batch.

Like with like: transformers' own class (``BertForMaskedLM``, ``RobertaForMaskedLM``, ...) built from the
exported config with the same weights; the same batch and masked labels (15%, 80/10/10); dropout on in both
(train mode, the flavor's rates); the same optimizer (AdamW with the same decay groups and hyperparameters,
torch's fused kernel: workbench's ``build_optimizer``, and the transformers Trainer default for torch >= 2.8).

Prints tokens/s side by side and the ratio. Steps of the two models alternate, so background load hits
both alike; the median step time is reported, by the wall clock and by the process CPU clock (the CPU
clock is the steadier one on a shared machine, the wall clock the one that counts on a quiet one). On a
busy machine pass ``--threads 1``: torch's worker threads spin-wait when they lose their core, which
inflates both clocks by the number of kernels launched rather than by the work done.

    python benchmarks/bench_model_step.py                      # bert tiny and small, vocab 32000, 8 x 128
    python benchmarks/bench_model_step.py --family roberta --sizes tiny --batch 16 --seq 128 --steps 10
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from workbench.interop.transformers_export import to_transformers_model  # noqa: E402
from workbench.model.config import EncoderConfig  # noqa: E402
from workbench.model.pretraining import PretrainingModel  # noqa: E402
from workbench.objectives.masking import generator_for, mask_tokens  # noqa: E402
from workbench.training.config import OptimizerConfig  # noqa: E402
from workbench.training.optimizer import build_optimizer, parameter_groups  # noqa: E402

OPTIMIZER = OptimizerConfig(lr=1e-4, betas=[0.9, 0.98], eps=1e-6, weight_decay=0.01)

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"


def load_config(family: str, size: str, vocab_size: int, padding_free: bool) -> EncoderConfig:
    merged = OmegaConf.merge(
        OmegaConf.structured(EncoderConfig),
        OmegaConf.load(CONF / f"{family}_{size}.yaml"),
        {"vocab_size": vocab_size, "padding_free": padding_free},
    )
    return OmegaConf.to_object(merged)


def make_batch(config: EncoderConfig, batch: int, seqlen: int, padded_fraction: float):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, config.vocab_size, (batch, seqlen), generator=g)
    mask = torch.ones(batch, seqlen, dtype=torch.long)
    if padded_fraction > 0:  # variable lengths: uniform between (1 - 2f) T and T, mean padding f
        lengths = torch.randint(int(seqlen * (1 - 2 * padded_fraction)), seqlen + 1, (batch,), generator=g)
        for row, n in enumerate(lengths.tolist()):
            mask[row, n:] = 0
    ids[mask == 0] = config.pad_token_id
    specials = {config.pad_token_id, 0, 1, 2, 3, 4}
    masked, labels = mask_tokens(ids, vocab_size=config.vocab_size, special_ids=specials, mask_id=4,
                                 generator=generator_for(0, 0, 0))
    return masked, mask, labels


def step_fn(model, optimizer, inputs, ours: bool):
    ids, mask, labels = inputs

    def step():
        start, cpu = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        if ours:
            loss = model(ids, mask, labels).loss
        else:
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start, time.process_time() - cpu

    return step


def reference_optimizer(model) -> torch.optim.Optimizer:
    """What the transformers Trainer builds by default (torch >= 2.8: adamw_torch_fused), with our hyperparameters."""
    return torch.optim.AdamW(parameter_groups(model, OPTIMIZER.weight_decay), lr=OPTIMIZER.lr,
                             betas=tuple(OPTIMIZER.betas), eps=OPTIMIZER.eps, fused=True)


def run(family: str, size: str, args) -> None:
    config = load_config(family, size, args.vocab, args.padding_free)
    torch.manual_seed(0)
    ours = PretrainingModel(config).train()
    theirs = to_transformers_model(ours).train()  # same weights, transformers' own class
    inputs = make_batch(config, args.batch, args.seq, args.padded)
    steps = {
        "workbench": step_fn(ours, build_optimizer(ours, OPTIMIZER), inputs, True),
        "transformers": step_fn(theirs, reference_optimizer(theirs), inputs, False),
    }
    if args.compile:  # an extra contender, reported on its own line; the eager figures stay as they are
        compiled = copy.deepcopy(ours)
        steps["workbench+compile"] = step_fn(torch.compile(compiled), build_optimizer(compiled, OPTIMIZER), inputs, True)
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for _ in range(args.steps):
        for name, step in steps.items():
            times[name].append(step())
    tokens = int(inputs[1].sum())
    wall = {name: tokens / statistics.median(t[0] for t in ts) for name, ts in times.items()}
    cpu = {name: tokens / statistics.median(t[1] for t in ts) for name, ts in times.items()}
    params = sum(p.numel() for p in theirs.parameters())
    print(
        f"{family}_{size:6s} params={params / 1e6:6.1f}M vocab={config.vocab_size} batch={args.batch}x{args.seq}"
        f" masked={int((inputs[2] != -100).sum())}  workbench {wall['workbench']:8.0f} tok/s"
        f"   transformers {wall['transformers']:8.0f} tok/s   ratio {wall['workbench'] / wall['transformers']:.2f}x"
        f"   (CPU-clock ratio {cpu['workbench'] / cpu['transformers']:.2f}x)"
    )
    if "workbench+compile" in wall:
        print(
            f"{family}_{size:6s} torch.compile'd workbench {wall['workbench+compile']:8.0f} tok/s"
            f"   ratio to transformers {wall['workbench+compile'] / wall['transformers']:.2f}x"
            f"   (CPU-clock ratio {cpu['workbench+compile'] / cpu['transformers']:.2f}x; eager figures above)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="bert", choices=["bert", "roberta", "camembert", "flaubert"])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--padded", type=float, default=0.0, help="mean fraction of padding per row (0: packed)")
    parser.add_argument("--padding-free", action="store_true", help="workbench padding-free path")
    parser.add_argument("--compile", action="store_true",
                        help="also time a torch.compile'd copy of the workbench model (a separate line; needs a C++ compiler)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed steps of each model, alternating")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.steps} alternating steps")
    for size in args.sizes:
        run(args.family, size, args)


if __name__ == "__main__":
    main()
