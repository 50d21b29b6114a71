"""Matmul probe: the dense TFLOP/s this CPU reaches in fp32 and bf16, for ``hardware.peak_tflops`` in conf/hardware/cpu.yaml.

Times ``torch.mm`` of square matrices (2 n^3 FLOPs each) per dtype and thread count and prints the best of
``--repeats`` (the best is the closest to the peak on a busy machine), with the CPU's features
(``workbench.hardware.cpu_features``: native bf16 or not). MFU in the training logs is executed FLOPs / this peak.

    python benchmarks/bench_peak.py                  # n=2048, 1 thread and torch's default, 5 repeats
    python benchmarks/bench_peak.py --n 4096 --threads 16
"""

from __future__ import annotations

import argparse
import time

import torch

from workbench.hardware.cpu_features import cpu_features


def matmul_tflops(n: int, dtype: torch.dtype, repeats: int) -> float:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    torch.mm(a, b)  # warm-up: kernel selection, page faults
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="*", default=None, help="thread counts (default: 1 and torch's default)")
    args = parser.parse_args()
    features = cpu_features()
    print(f"CPU: {features.describe()}; flags {' '.join(features.flags)}")
    default = torch.get_num_threads()
    for threads in args.threads or sorted({1, default}):
        torch.set_num_threads(threads)
        fp32 = matmul_tflops(args.n, torch.float32, args.repeats)
        bf16 = matmul_tflops(args.n, torch.bfloat16, args.repeats)
        print(f"{threads} thread(s), n={args.n}: fp32 {fp32:.3f} TFLOP/s, bf16 {bf16:.3f} TFLOP/s (bf16/fp32 {bf16 / fp32:.2f})")


if __name__ == "__main__":
    main()
