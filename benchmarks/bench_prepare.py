"""``prepare`` against the usual Hugging Face route, side by side.

HF route (run_mlm.py): ``datasets.load_dataset("text")`` -> ``map(tokenize, batched, num_proc=2)`` with the
same fast tokenizer (wrapped in ``PreTrainedTokenizerFast``) -> ``map(group_texts, batched, num_proc=2)``
into blocks of ``--max-seq-len`` tokens.
workbench: ``prepare_corpus`` (clean, dedup, sentence split, tokenize, pack, write shards) with
``--workers`` processes.

Each route runs in its own subprocess; a sampler adds up the RSS of the process tree (main + workers)
every 20 ms, so both peaks are measured the same way. Throughput is corpus tokens per second: the
tokens of the text without special tokens (both routes tokenize the same lines; workbench also drops
exact duplicates, which only lowers its count).

    PYTHONPATH=. python benchmarks/bench_prepare.py [--data DIR] [--tokenizer DIR] [--mode full_sentences]
                                                    [--workers 1,2] [--repeats 3]

The routes run interleaved (each repeat: workbench with each worker count, then HF), so that load from
other work on the machine hits them alike; the table shows medians, and the ratios are the medians of the
per-repeat ratios.

Without ``--tokenizer`` a 32k vocabulary is trained by workbench on 100k lines of the corpus first (not timed):
SentencePiece BPE in CamemBERT's layout by default, ``--algorithm wordpiece`` for BERT's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "french_prose" / "eltec_fra_plain1"

HF_ROUTE = r'''
import json, sys, time, glob, os
from itertools import chain
import datasets
from tokenizers import Tokenizer as HFTokenizer
from transformers import PreTrainedTokenizerFast
files, tokenizer_dir, cache, block, specials = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
files = sorted(glob.glob(files))
tok = PreTrainedTokenizerFast(tokenizer_object=HFTokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json")),
    unk_token=specials["unk"], pad_token=specials["pad"], cls_token=specials["cls"], sep_token=specials["sep"], mask_token=specials["mask"])
datasets.disable_progress_bars()
start = time.perf_counter()
raw = datasets.load_dataset("text", data_files={"train": files}, cache_dir=cache)["train"]
def tokenize_function(examples):
    return tok(examples["text"], return_special_tokens_mask=True)
tokenized = raw.map(tokenize_function, batched=True, num_proc=2, remove_columns=["text"])
def group_texts(examples):
    concatenated = {k: list(chain(*examples[k])) for k in examples.keys()}
    total_length = len(concatenated[list(examples.keys())[0]])
    total_length = (total_length // block) * block
    return {k: [t[i : i + block] for i in range(0, total_length, block)] for k, t in concatenated.items()}
grouped = tokenized.map(group_texts, batched=True, num_proc=2)
elapsed = time.perf_counter() - start
counts = tokenized.map(lambda b: {"n": [len(x) - sum(m) for x, m in zip(b["input_ids"], b["special_tokens_mask"])]},
                       batched=True, remove_columns=tokenized.column_names)["n"]
content = sum(counts)  # tokens without the special tokens the tokenizer's post-processor adds (if any)
print(json.dumps({"seconds": elapsed, "content_tokens": content, "sequences": len(grouped), "output_tokens": len(grouped) * block}))
'''

WORKBENCH_ROUTE = r'''
import json, sys, time
from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
from workbench.corpus.prepare import prepare_corpus
from workbench.corpus.shards import ShardSet
from workbench.tokenization.tokenizer import Tokenizer
files, tokenizer_dir, out, block, mode, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
tokenizer = Tokenizer.load(tokenizer_dir)
corpus = CorpusConfig(name="bench", sources=[SourceConfig(path=files)], document_boundary="line", validation_fraction=0.01)
packing = PackingConfig(mode=mode, max_seq_len=block, num_workers=workers)
start = time.perf_counter()
manifest = prepare_corpus(corpus, packing, tokenizer, out, seed=0, progress=False)
elapsed = time.perf_counter() - start
shards = ShardSet.open(out)
special = sorted(tokenizer.special_ids)
import numpy as np
content = 0
output = 0
for name in shards.split_names:
    for shard in shards.split(name).shards:
        tokens = np.asarray(shard.tokens)
        output += len(tokens)
        content += int(len(tokens) - np.isin(tokens, special).sum())
print(json.dumps({"seconds": elapsed, "content_tokens": content, "output_tokens": output,
                  "sequences": sum(manifest["splits"][s]["sequences"] for s in manifest["splits"]), "encoding": manifest["encoding"]}))
'''


def run_measured(args: list[str]) -> tuple[dict, float]:
    """Run a command; returns (its JSON output, peak RSS of its process tree in MiB)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                total = root.memory_info().rss + sum(c.memory_info().rss for c in root.children(recursive=True))
                peak = max(peak, total)
            except psutil.Error:
                pass
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = process.communicate()
    done.set()
    thread.join()
    if process.returncode != 0:
        raise SystemExit(f"command failed ({process.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), peak / 2**20


def train_tokenizer(data: Path, folder: Path, vocab_size: int, algorithm: str) -> None:
    """A vocabulary trained by workbench itself (what users prepare with), on 100k sampled lines."""
    from workbench.corpus.config import SourceConfig
    from workbench.tokenization.config import TokenizerConfig
    from workbench.tokenization.train import train_tokenizer as train

    family = "bert" if algorithm == "wordpiece" else "roberta"
    config = TokenizerConfig(name="bench", algorithm=algorithm, special_tokens=family, vocab_size=vocab_size, sample_lines=100_000)
    train(config, [SourceConfig(path=str(path)) for path in sorted(data.glob("*.txt"))], folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of .txt files, one paragraph per line")
    parser.add_argument("--tokenizer", type=Path, default=None, help="a workbench tokenizer folder (default: train one, see --algorithm)")
    parser.add_argument("--algorithm", default="sentencepiece_bpe", help="without --tokenizer: the algorithm of the 32k vocabulary trained first")
    parser.add_argument("--mode", default="full_sentences", help="workbench packing mode")
    parser.add_argument("--workers", default="1,2", help="comma-separated num_workers values to run (each is reported)")
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each route; medians are reported")
    args = parser.parse_args()
    files = str(args.data / "*.txt")
    size = sum(p.stat().st_size for p in args.data.glob("*.txt"))
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        tmp = Path(tmp)
        tokenizer_dir = args.tokenizer
        if tokenizer_dir is None:
            tokenizer_dir = tmp / "tokenizer"
            print(f"training a 32k {args.algorithm} vocabulary with workbench on a sample (not timed)...", flush=True)
            train_tokenizer(args.data, tokenizer_dir, 32000, args.algorithm)
        specials = json.loads((tokenizer_dir / "workbench_tokenizer.json").read_text())["special_tokens"]
        hf_runs, wb_runs = [], {}
        worker_counts = [int(w) for w in args.workers.split(",")]
        for repeat in range(args.repeats):
            for workers in worker_counts:
                run = run_measured([sys.executable, "-c", WORKBENCH_ROUTE, files, str(tokenizer_dir), str(tmp / f"wb{repeat}-{workers}"), str(args.max_seq_len), args.mode, str(workers)])
                wb_runs.setdefault(workers, []).append(run)
                print(f"workbench ({workers} worker(s)) run {repeat}: {run[0]['seconds']:.1f} s, peak {run[1]:.0f} MiB", flush=True)
            hf_runs.append(run_measured([sys.executable, "-c", HF_ROUTE, files, str(tokenizer_dir), str(tmp / f"hf{repeat}"), str(args.max_seq_len), json.dumps(specials)]))
            print(f"HF route run {repeat}: {hf_runs[-1][0]['seconds']:.1f} s, peak {hf_runs[-1][1]:.0f} MiB", flush=True)
    # medians over the repeats; the ratios are taken within each repeat (HF and workbench ran back to back,
    # under the same load) and their median is reported
    def median(values):
        return statistics.median(values)

    hf_seconds = median([r[0]["seconds"] for r in hf_runs])
    hf_peak = median([r[1] for r in hf_runs])
    hf_tokens = hf_runs[0][0]["content_tokens"]
    hf_rate = hf_tokens / hf_seconds
    print()
    print(f"corpus: {args.data} ({size / 1e6:.1f} MB), max_seq_len {args.max_seq_len}, workbench mode {args.mode}; "
          f"HF: datasets map(num_proc=2) + group_texts; {os.cpu_count()} CPUs; medians of {args.repeats} interleaved run(s)")
    header = f"{'':30}{'HF datasets route':>20}"
    for workers in worker_counts:
        header += f"{f'workbench, {workers} proc':>20}{'ratio':>8}"
    print(header)
    results = {}
    for workers, runs in wb_runs.items():
        speed = [(r[0]["content_tokens"] / r[0]["seconds"]) / (h[0]["content_tokens"] / h[0]["seconds"]) for r, h in zip(runs, hf_runs)]
        memory = [r[1] / h[1] for r, h in zip(runs, hf_runs)]
        results[workers] = {
            "seconds": median([r[0]["seconds"] for r in runs]),
            "tokens": runs[0][0]["content_tokens"],
            "peak": median([r[1] for r in runs]),
            "sequences": runs[0][0]["sequences"],
            "encoding": runs[0][0]["encoding"],
            "speed_ratio": median(speed),
            "memory_ratio": median(memory),
            "speed_ratios": speed,
        }
    rows = [
        ("wall time (s)", f"{hf_seconds:.1f}", lambda r: (f"{r['seconds']:.1f}", f"{hf_seconds / r['seconds']:.2f}x")),
        ("corpus tokens", f"{hf_tokens:,}", lambda r: (f"{r['tokens']:,}", "")),
        ("corpus tokens / s", f"{hf_rate:,.0f}", lambda r: (f"{r['tokens'] / r['seconds']:,.0f}", f"{r['speed_ratio']:.2f}x")),
        ("peak RSS, process tree (MiB)", f"{hf_peak:.0f}", lambda r: (f"{r['peak']:.0f}", f"{r['memory_ratio']:.2f}x")),
        ("sequences", f"{hf_runs[0][0]['sequences']:,}", lambda r: (f"{r['sequences']:,}", "")),
    ]
    for label, hf_value, ours in rows:
        line = f"{label:30}{hf_value:>20}"
        for workers in worker_counts:
            value, ratio = ours(results[workers])
            line += f"{value:>20}{ratio:>8}"
        print(line)
    print("(ratios of tokens/s and of peak memory: median of the per-repeat ratios)")
    for workers in worker_counts:
        r = results[workers]
        print(f"workbench {workers} proc (encoding {r['encoding']}): tokens/s ratio {r['speed_ratio']:.2f}"
              f" (per repeat: {', '.join(f'{x:.2f}' for x in r['speed_ratios'])}; target >= 3: {'met' if r['speed_ratio'] >= 3 else 'NOT met'}),"
              f" peak memory ratio {r['memory_ratio']:.2f} (target <= 0.5: {'met' if r['memory_ratio'] <= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
