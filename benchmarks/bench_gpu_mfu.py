"""Model FLOPs utilization and tokens/s of one pretraining step on a GPU, workbench vs transformers.

One step = forward + backward + AdamW on a packed batch of ``--batch`` x ``--seq`` random token ids with
15% MLM masking, under bf16 autocast (or fp16 with loss scaling, or fp32). Steps of the two models alternate
so clock changes hit both alike; medians are reported.

MFU counts the FLOPs the workbench step executes (``workbench.training.flops.step_flops``: the matrix
products, the last layer and the MLM head at the padded masked positions) over ``--peak-tflops`` (H100 SXM
dense bf16: 989). transformers' model computes the last layer and the vocabulary projection at every
position, so the same useful work costs it more; its line shows the same FLOPs over its own time (what it
achieves of the useful work).

    python benchmarks/bench_gpu_mfu.py                                   # camembert_base, 32 x 512, bf16
    python benchmarks/bench_gpu_mfu.py --compile --batch 64              # torch.compile'd workbench model
    python benchmarks/bench_gpu_mfu.py --size large --batch 16 --no-reference
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from workbench.model.config import EncoderConfig  # noqa: E402
from workbench.model.pretraining import PretrainingModel  # noqa: E402
from workbench.objectives.masking import generator_for, mask_tokens  # noqa: E402
from workbench.training.flops import forward_shape, step_flops  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"


def load_config(family: str, size: str, vocab_size: int) -> EncoderConfig:
    merged = OmegaConf.merge(OmegaConf.structured(EncoderConfig), OmegaConf.load(CONF / f"{family}_{size}.yaml"),
                             {"vocab_size": vocab_size})
    return OmegaConf.to_object(merged)


def make_batch(config: EncoderConfig, batch: int, seqlen: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, config.vocab_size, (batch, seqlen), generator=g)
    mask = torch.ones(batch, seqlen, dtype=torch.long)
    masked, labels = mask_tokens(ids, vocab_size=config.vocab_size, special_ids={0, 1, 2, 3, 4}, mask_id=4,
                                 generator=generator_for(0, 0, 0))
    return masked.to(device), mask.to(device), labels.to(device)


def make_step(model, inputs, precision: str, ours: bool):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-6, fused=True)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    ids, mask, labels = inputs

    def step() -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        optimizer.zero_grad(set_to_none=True)
        autocast = torch.autocast("cuda", dtype=dtype) if dtype else contextlib.nullcontext()
        with autocast:
            loss = model(ids, mask, labels).loss if ours else model(input_ids=ids, attention_mask=mask,
                                                                      labels=labels).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="camembert", choices=["bert", "roberta", "camembert", "flaubert"])
    parser.add_argument("--size", default="base")
    parser.add_argument("--vocab", type=int, default=32005)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp16", "fp32"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the workbench model")
    parser.add_argument("--no-reference", action="store_true", help="skip the transformers model")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu_mfu.py needs a CUDA device")
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    config = load_config(args.family, args.size, args.vocab)
    config.dropout = 0.1  # as in pretraining
    torch.manual_seed(0)
    ours = PretrainingModel(config).to(device).train()
    inputs = make_batch(config, args.batch, args.seq, device)
    steps = {}
    if not args.no_reference:
        from workbench.interop.transformers_export import to_transformers_model

        theirs = to_transformers_model(ours.cpu()).to(device).train()
        ours.to(device)
        steps["transformers"] = make_step(theirs, inputs, args.precision, ours=False)
        print(f"transformers {type(theirs).__name__}, attention: {theirs.config._attn_implementation}")
    model = torch.compile(ours) if args.compile else ours
    steps = {"workbench": make_step(model, inputs, args.precision, ours=True), **steps}
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for _ in range(args.steps):
        for name, step in steps.items():
            times[name].append(step())
    tokens = args.batch * args.seq
    flops = step_flops(config, forward_shape(ours, inputs[2].cpu(), None))
    print(f"{torch.cuda.get_device_name()} torch {torch.__version__}  {args.family}_{args.size}"
          f" batch {args.batch}x{args.seq} {args.precision}{' compiled' if args.compile else ''}"
          f"  model FLOPs/step {flops / 1e12:.2f} T  peak {args.peak_tflops:.0f} TFLOP/s")
    rates = {}
    for name, t in times.items():
        median = statistics.median(t)
        rates[name] = tokens / median
        print(f"  {name:12s} {median * 1000:8.1f} ms/step  {rates[name]:10.0f} tok/s"
              f"  MFU {flops / median / (args.peak_tflops * 1e12) * 100:5.1f}%")
    if "transformers" in rates:
        print(f"  ratio workbench/transformers {rates['workbench'] / rates['transformers']:.2f}x")
    print(f"  peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
