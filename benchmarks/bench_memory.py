"""Resident memory and step time of quickstart-like pretraining steps, with and without padded selections.

Each run is a fresh process (RSS is per process): ``PretrainingModel`` with ``conf/model/camembert_tiny.yaml``
(the quickstart model) and the sample tokenizer's 3,000-id vocabulary, batches of 32 x 128 random tokens with
15% of the positions masked (a new count every step, as dynamic masking gives), dropout on, fused AdamW through
``build_optimizer``. ``--pad-to`` (default: the model's, 16) pads the selected positions to a multiple of it;
``pad_to=1`` is the unpadded step (one new shape per step). RSS (``/proc/self/statm``) is sampled every
``--every`` steps; the step time is the median over the steps after the first 20.

Runs alternate (padded, unpadded, unpadded, padded, ...) so that background load on a shared CPU hits both
alike; one thread each. The ratio printed is unpadded / padded median step time per round. ``--interleaved N``
measures speed alone, less exposed to load drifting between processes: one process, two models with the same
weights (padded and unpadded) taking turns step by step on the same batches, N steps each.

    python benchmarks/bench_memory.py                      # 3 rounds of 400 steps
    python benchmarks/bench_memory.py --rounds 2 --steps 200
    python benchmarks/bench_memory.py --interleaved 200
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SELECTION_MULTIPLE = 16  # workbench.model.pretraining.SELECTION_MULTIPLE (not imported: the parent process stays torch-free)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(pad_to: int, steps: int, every: int, vocab: int, batch: int, seq: int) -> dict:
    import torch
    from omegaconf import OmegaConf

    from workbench.config.typed import CONF_DIR
    from workbench.model.config import EncoderConfig
    from workbench.model.pretraining import PretrainingModel
    from workbench.training.config import OptimizerConfig
    from workbench.training.optimizer import build_optimizer

    torch.set_num_threads(1)
    fields = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "model" / "camembert_tiny.yaml"))
    fields.update(vocab_size=vocab, max_positions=seq)
    config = EncoderConfig(**fields)
    torch.manual_seed(0)
    model = PretrainingModel(config, pad_to=pad_to).train()
    optimizer = build_optimizer(model, OptimizerConfig(lr=1e-3, betas=[0.9, 0.98]))
    g = torch.Generator().manual_seed(1)
    rss, times = [], []
    for step in range(steps):
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        labels = torch.where(torch.rand(ids.shape, generator=g) < 0.15, ids, torch.full_like(ids, -100))
        started = time.perf_counter()
        out = model(ids, None, labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
        if step % every == 0 or step == steps - 1:
            rss.append((step + 1, round(rss_mb(), 1)))
    return {"pad_to": pad_to, "rss": rss, "median_step_s": statistics.median(times[20:])}


def interleaved(pad: int, steps: int, vocab: int, batch: int, seq: int) -> None:
    import torch
    from omegaconf import OmegaConf

    from workbench.config.typed import CONF_DIR
    from workbench.model.config import EncoderConfig
    from workbench.model.pretraining import PretrainingModel
    from workbench.training.config import OptimizerConfig
    from workbench.training.optimizer import build_optimizer

    torch.set_num_threads(1)
    fields = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "model" / "camembert_tiny.yaml"))
    fields.update(vocab_size=vocab, max_positions=seq)
    config = EncoderConfig(**fields)
    torch.manual_seed(0)
    models = {pad: PretrainingModel(config, pad_to=pad).train()}
    models[1] = PretrainingModel(config, pad_to=1).train()
    models[1].load_state_dict(models[pad].state_dict())
    optimizers = {k: build_optimizer(m, OptimizerConfig(lr=1e-3, betas=[0.9, 0.98])) for k, m in models.items()}
    g = torch.Generator().manual_seed(1)
    times = {pad: [], 1: []}
    for step in range(steps):
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        labels = torch.where(torch.rand(ids.shape, generator=g) < 0.15, ids, torch.full_like(ids, -100))
        for pad_to in (pad, 1) if step % 2 == 0 else (1, pad):
            started = time.perf_counter()
            models[pad_to](ids, None, labels).loss.backward()
            optimizers[pad_to].step()
            optimizers[pad_to].zero_grad(set_to_none=True)
            if step >= 10:
                times[pad_to].append(time.perf_counter() - started)
    padded, plain = statistics.median(times[pad]), statistics.median(times[1])
    ratios = sorted(b / a for a, b in zip(times[pad], times[1]))
    print(f"interleaved, {len(times[pad])} steps each, pad_to={pad}: median step padded {padded * 1e3:.1f} ms, unpadded {plain * 1e3:.1f} ms;"
          f" unpadded / padded {plain / padded:.3f} (per-step ratio quartiles {ratios[len(ratios) // 4]:.3f}"
          f" {ratios[len(ratios) // 2]:.3f} {ratios[3 * len(ratios) // 4]:.3f})")


def run_child(pad_to: int, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    command = [sys.executable, __file__, "--child", str(pad_to), "--steps", str(args.steps), "--every", str(args.every),
               "--vocab", str(args.vocab), "--batch", str(args.batch), "--seq", str(args.seq)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=50, help="RSS sample period in steps")
    parser.add_argument("--vocab", type=int, default=3000, help="the sample tokenizer's size")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--pad-to", type=int, default=SELECTION_MULTIPLE, help="the padded model's multiple")
    parser.add_argument("--interleaved", type=int, default=0, help="speed only: N interleaved steps per model")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.interleaved:
        interleaved(args.pad_to, args.interleaved, args.vocab, args.batch, args.seq)
        return
    if args.child is not None:
        print(json.dumps(child(args.child, args.steps, args.every, args.vocab, args.batch, args.seq)))
        return
    ratios = []
    for round_index in range(args.rounds):
        order = (args.pad_to, 1) if round_index % 2 == 0 else (1, args.pad_to)
        results = {pad_to: run_child(pad_to, args) for pad_to in order}
        for pad_to in (args.pad_to, 1):
            r = results[pad_to]
            trace = " ".join(f"{step}:{mb:.0f}" for step, mb in r["rss"])
            print(f"round {round_index} pad_to={pad_to:<2} median step {r['median_step_s'] * 1e3:6.1f} ms  RSS MB by step {trace}")
        ratios.append(results[1]["median_step_s"] / results[args.pad_to]["median_step_s"])
    print("unpadded / padded step time per round: " + ", ".join(f"{r:.3f}" for r in ratios))


if __name__ == "__main__":
    main()
