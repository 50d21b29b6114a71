"""Encoding speed of workbench's tokenizer wrapper beside each family's own encoder, same ids (not a test).

    PYTHONPATH=. python benchmarks/bench_encode.py [--data ../shared/data/french_prose] [--lines 2000]
                                                   [--rounds 9] [--vocab-size 8000] [--tokenizers DIR]

Trains one vocabulary per family on a sample of the corpus (sentencepiece BPE and unigram, WordPiece,
Moses+BPE; kept in ``--tokenizers`` when given, else a temporary folder), then encodes a batch of real lines
(``--lines``, taken from other places of the corpus than the sample) without special tokens, alternating the
routes round after round (the machine may be shared) and printing medians and the median of the per-round
time ratios workbench / reference:

- ``Tokenizer.encode_batch`` (what fine-tuning features call) and ``encode`` line by line (``embed``,
  ``fill-mask``);
- sentencepiece families: ``SentencePieceProcessor.encode`` of the folder's own ``sentencepiece.model`` on the
  raw lines (the library's own encoder; its ids differ from the tokenizer's where workbench's normalizer
  changes the text) and on the normalized lines (the same ids), and the `tokenizers` pipeline;
- WordPiece: the `tokenizers` pipeline of the folder (``encode_batch_fast``, ids read);
- Moses+BPE: transformers' ``FlaubertTokenizer`` (the reference the folder is tested against), fewer rounds
  (pure Python).

Every route's ids are compared with the wrapper's first (the raw-line sentencepiece route only counts the
lines whose ids differ). Both libraries run with their default threads (``--threads 1``: one thread for
sentencepiece, RAYON_NUM_THREADS=1 for `tokenizers`, set before it is imported).
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAMILIES = (("sentencepiece_bpe", "roberta"), ("sentencepiece_unigram", "roberta"), ("wordpiece", "bert"),
            ("moses_bpe", "flaubert"))
BATCH, BY_LINE = "workbench Tokenizer.encode_batch", "workbench Tokenizer.encode, per line"
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")


def cpu_line() -> str:
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:  # pragma: no cover - not Linux
        pass
    shown = " ".join(flag for flag in CPU_FLAGS if flag in flags) or "none of " + " ".join(CPU_FLAGS)
    return f"{model}; {os.cpu_count()} CPUs; flags: {shown}"


def read_lines(files, skip: int, take: int, every: int):
    lines = []
    for path in files:
        with open(path, encoding="utf-8") as handle:
            kept = [line.rstrip("\n") for line in handle if line.strip()]
        lines.extend(kept[skip : skip + take * every : every])
    return lines


def train(folder: Path, algorithm: str, family: str, files, vocab_size: int) -> Path:
    from workbench.corpus.config import SourceConfig
    from workbench.tokenization.config import TokenizerConfig
    from workbench.tokenization.train import train_tokenizer

    out = folder / f"{algorithm}-{family}"
    if not (out / "manifest.json").exists():
        config = TokenizerConfig(name=f"bench-{algorithm}", algorithm=algorithm, special_tokens=family,
                                 vocab_size=vocab_size, sample_lines=50_000)
        train_tokenizer(config, [SourceConfig(path=str(f)) for f in files], out)
    return out


def interleaved(routes, rounds: int):
    """Per route, the (wall, CPU) seconds of each round, the routes alternating within every round (a
    warm-up round first). CPU: this process's time over all its threads, the steadier clock on a shared
    machine; with --threads 1 it is the work each route does."""
    times = {name: [] for name in routes}
    for round_index in range(rounds + 1):
        for name, function in routes.items():
            started, cpu = time.perf_counter(), time.process_time()
            function()
            if round_index:
                times[name].append((time.perf_counter() - started, time.process_time() - cpu))
    return times


def report(name: str, times, references, chars: int) -> None:
    """Each reference's ratio is to the wrapper's batch route, or to its line-by-line route for a line-by-line
    one: medians of the per-round ratios, by the CPU clock (wall clock in brackets)."""
    print(f"  {name}:")
    for route, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        line = f"    {route:44s} CPU {cpu * 1e3:8.1f} ms ({chars / cpu / 1e6:5.2f} MB/s), wall {wall * 1e3:8.1f} ms"
        if route in references:
            ours = BY_LINE if "line by line" in route else BATCH
            ratios = [o[1] / r[1] for o, r in zip(times[ours], values)]
            walls = [o[0] / r[0] for o, r in zip(times[ours], values)]
            line += f"   {'encode' if ours == BY_LINE else 'encode_batch'}/this {statistics.median(ratios):.3f}"
            line += f" (rounds {min(ratios):.2f}-{max(ratios):.2f}; wall {statistics.median(walls):.3f})"
        print(line)


def bench_family(folder: Path, algorithm: str, lines, rounds: int, threads: int) -> None:
    from workbench.tokenization.tokenizer import Tokenizer

    tok = Tokenizer.load(folder)
    chars = sum(map(len, lines))
    ours = tok.encode_batch(lines)
    backend = tok.backend
    routes = {BATCH: lambda: tok.encode_batch(lines), BY_LINE: lambda: [tok.encode(line) for line in lines]}
    references = []
    if algorithm.startswith("sentencepiece"):
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
        kwargs = {"num_threads": threads} if threads else {}
        to_ours = [tok.unk_id if processor.is_unknown(i) else tok.token_to_id(processor.id_to_piece(i))
                   for i in range(processor.get_piece_size())]
        normalized = [tok.normalize(line) for line in lines]
        same = [[to_ours[i] for i in ids] for ids in processor.encode(normalized, **kwargs)] == ours
        raw_differ = sum(a != [to_ours[i] for i in b] for a, b in zip(ours, processor.encode(lines, **kwargs)))
        print(f"  sentencepiece on normalized lines: same ids {same}; on raw lines: {raw_differ} of {len(lines)} lines differ"
              " (the normalizer changed them)")
        routes["sentencepiece encode (raw lines)"] = lambda: processor.encode(lines, **kwargs)
        routes["sentencepiece encode (normalized lines)"] = lambda: processor.encode(normalized, **kwargs)
        routes["sentencepiece encode, line by line (raw)"] = lambda: [processor.encode(line) for line in lines]
        references += ["sentencepiece encode (raw lines)", "sentencepiece encode (normalized lines)",
                       "sentencepiece encode, line by line (raw)"]
    if tok.pre_tokenizer is None:
        encode = getattr(backend, "encode_batch_fast", backend.encode_batch)
        pipeline = lambda: [e.ids for e in encode(lines, add_special_tokens=False)]
        print(f"  tokenizers pipeline: same ids {pipeline() == ours}")
        routes["tokenizers pipeline encode_batch_fast + ids"] = pipeline
        references.append("tokenizers pipeline encode_batch_fast + ids")
    else:
        import transformers

        flaubert = transformers.AutoTokenizer.from_pretrained(str(folder))
        reference = lambda: [flaubert(line, add_special_tokens=False)["input_ids"] for line in lines]
        print(f"  transformers {type(flaubert).__name__}: same ids {reference() == ours}")
        routes["transformers FlaubertTokenizer, line by line"] = reference
        references.append("transformers FlaubertTokenizer, line by line")
        rounds = max(3, rounds // 3)
    report(f"{algorithm} ({len(lines)} lines, {chars / 1e6:.2f} MB; medians of {rounds} rounds)",
           interleaved(routes, rounds), references, chars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "french_prose"))
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--tokenizers", default=None, help="folder to keep (and reuse) the trained vocabularies in")
    parser.add_argument("--families", default=",".join(a for a, _ in FAMILIES))
    parser.add_argument("--threads", type=int, default=0, help="0: each library's default; 1: one thread")
    args = parser.parse_args()
    if args.threads:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before tokenizers starts its pool
    files = sorted(glob.glob(os.path.join(args.data, "**", "*.txt"), recursive=True))
    if len(files) < 80:
        sys.exit(f"need at least 80 text files under {args.data}")
    import sentencepiece
    import tokenizers

    print(f"CPU: {cpu_line()}; tokenizers {tokenizers.__version__}, sentencepiece {sentencepiece.__version__};"
          f" threads: {args.threads or 'library defaults'}")
    lines = read_lines(files[40:80], skip=100, take=max(1, args.lines // 40), every=1)[: args.lines]
    chosen = args.families.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.tokenizers or tmp)
        for algorithm, family in FAMILIES:
            if algorithm in chosen:
                bench_family(train(folder, algorithm, family, files[:40], args.vocab_size), algorithm, lines,
                             args.rounds, args.threads)


if __name__ == "__main__":
    main()
