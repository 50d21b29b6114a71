"""Pretraining step time in fp32 and under bf16 autocast on CPU, same model, batches and optimizer.

``PretrainingModel`` of ``conf/model/camembert_<size>.yaml`` with ``--vocab`` ids, ``--batch`` x 128 random
tokens with 15% masked, dropout on, fused AdamW (``build_optimizer``), one thread. Rounds alternate the order
(fp32 then bf16, bf16 then fp32) so that background load hits both alike; the first step of each block is
dropped and the median is printed with the fp32 / bf16 ratio. bf16 pays only where the CPU has native bf16
(``avx512_bf16`` or ``amx_bf16``; printed first): that is what ``hardware.precision=auto`` checks.

    python benchmarks/bench_bf16.py                                  # camembert tiny, 3,000 ids, 32 x 128
    python benchmarks/bench_bf16.py --size small --vocab 32005 --batch 16
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
from omegaconf import OmegaConf

from workbench.config.typed import CONF_DIR
from workbench.hardware.cpu_features import cpu_features
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel
from workbench.training.config import OptimizerConfig
from workbench.training.optimizer import build_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny", choices=["tiny", "small", "base"])
    parser.add_argument("--vocab", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6, help="steps per block (the first is dropped)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"CPU: {cpu_features().describe()}")
    fields = OmegaConf.to_container(OmegaConf.load(f"{CONF_DIR}/model/camembert_{args.size}.yaml"))
    fields.update(vocab_size=args.vocab)
    config = EncoderConfig(**fields)
    torch.manual_seed(0)
    model = PretrainingModel(config).train()
    optimizer = build_optimizer(model, OptimizerConfig())
    g = torch.Generator().manual_seed(1)
    times = {"fp32": [], "bf16": []}
    for round_index in range(args.rounds):
        for precision in ("fp32", "bf16") if round_index % 2 == 0 else ("bf16", "fp32"):
            for step in range(args.steps):
                ids = torch.randint(5, args.vocab, (args.batch, 128), generator=g)
                labels = torch.where(torch.rand(ids.shape, generator=g) < 0.15, ids, torch.full_like(ids, -100))
                started = time.perf_counter()
                autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
                with autocast:
                    out = model(ids, None, labels)
                out.loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if step:
                    times[precision].append(time.perf_counter() - started)
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"camembert_{args.size}, {args.vocab} ids, {args.batch} x 128: fp32 {median['fp32'] * 1e3:.0f} ms,"
          f" bf16 {median['bf16'] * 1e3:.0f} ms, fp32 / bf16 {median['fp32'] / median['bf16']:.2f}")


if __name__ == "__main__":
    main()
