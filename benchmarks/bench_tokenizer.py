"""Benchmark of vocabulary training and encoding, side by side with the raw libraries (not a test).

    python benchmarks/bench_tokenizer.py [--data /work/shared/data/french_prose] [--sample-lines 20000]
                                         [--vocab-size 8000] [--encode-lines 20000]

Prints, for each measurement, workbench vs the library called directly on the same sample, as a ratio:

1. training time and peak memory (each run in a fresh process; peak = max resident set size):
   workbench ``train_tokenizer`` (sampling + normalization + training + conversion + export) vs
   ``sentencepiece.SentencePieceTrainer`` on a file holding the same sample (sentencepiece_bpe / unigram),
   and vs a `tokenizers` WordPiece trainer with BERT's normalizer (accents kept) on the same lines (wordpiece);
2. peak memory of sampling when the input grows 8x at a fixed sample size (should stay flat);
3. batch encoding throughput: ``Tokenizer.encode_batch`` vs the `tokenizers` backend's ``encode_batch``,
   and vs ``sentencepiece`` encoding the same lines (sentencepiece folders).
"""

from __future__ import annotations

import argparse
import glob
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # benchmarks run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def _in_process(target, *args):
    """Run ``target(*args)`` in a fresh process; returns (seconds reported by target, peak MB, result)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_runner, args=(queue, target, args))
    process.start()
    outcome = queue.get()
    process.join()
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _runner(queue, target, args):
    try:
        seconds, result = target(*args)
        queue.put((seconds, _peak_mb(), result))
    except BaseException as error:  # reported in the parent
        queue.put(error)


# -- training --------------------------------------------------------------------------------------------------
def _workbench_train(algorithm, family, sources, sample_lines, vocab_size, out_dir, dict_counts=True):
    from workbench.corpus.config import SourceConfig
    from workbench.tokenization.config import TokenizerConfig
    from workbench.tokenization.train import train_tokenizer

    config = TokenizerConfig(
        name=f"bench-{algorithm}", algorithm=algorithm, special_tokens=family, vocab_size=vocab_size,
        sample_lines=sample_lines, fairseq_dict_counts=dict_counts,
    )
    started = time.perf_counter()
    train_tokenizer(config, [SourceConfig(path=p) for p in sources], Path(out_dir))
    return time.perf_counter() - started, None


def _raw_sentencepiece(model_type, sample_file, vocab_size):
    import sentencepiece as spm

    started = time.perf_counter()
    with open(os.devnull, "w") as log:
        spm.SentencePieceTrainer.Train(
            logstream=log, input=sample_file, model_prefix=str(Path(sample_file).with_suffix("")) + f"-{model_type}",
            model_type=model_type, vocab_size=vocab_size - 2, character_coverage=0.9999, input_sentence_size=0,
            shuffle_input_sentence=False, num_threads=1, max_sentence_length=400_000,
        )
    return time.perf_counter() - started, None


def _raw_wordpiece(sample_file, vocab_size):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    started = time.perf_counter()
    with open(sample_file, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    )
    tokenizer.train_from_iterator(lines, trainer=trainer, length=len(lines))
    return time.perf_counter() - started, None


def _sample_only(sources, sample_lines):
    from workbench.corpus.config import SourceConfig
    from workbench.text.sampling import sample_lines as draw

    started = time.perf_counter()
    sample = draw([SourceConfig(path=p) for p in sources], sample_lines, seed=0)
    return time.perf_counter() - started, (sample.lines_seen, len(sample.lines))


def _write_sample(sources, sample_lines, path):
    from workbench.corpus.config import SourceConfig
    from workbench.text.sampling import sample_lines as draw

    sample = draw([SourceConfig(path=p) for p in sources], sample_lines, seed=0, max_line_chars=100_000)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(sample.lines))
    return len(sample.lines)


# -- encoding --------------------------------------------------------------------------------------------------
def _best_interleaved(functions, repeat=5):
    """Best time of each function, runs interleaved so that load changes on the machine hit all alike."""
    best = [float("inf")] * len(functions)
    for _ in range(repeat):
        for index, function in enumerate(functions):
            started = time.perf_counter()
            function()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def bench_encoding(folder: Path, lines):
    from workbench.tokenization.tokenizer import Tokenizer

    tok = Tokenizer.load(folder)
    chars = sum(len(line) for line in lines)
    backend = tok.backend
    ours, raw, raw_ids = _best_interleaved(
        [
            lambda: tok.encode_batch(lines),
            lambda: backend.encode_batch(lines, add_special_tokens=False),
            lambda: [encoding.ids for encoding in backend.encode_batch(lines, add_special_tokens=False)],
        ]
    )
    print(f"  encode_batch {folder.name}: workbench {chars / ours / 1e6:.2f} MB/s; tokenizers encode_batch"
          f" {chars / raw / 1e6:.2f} MB/s (ratio {ours / raw:.3f}), with .ids read {chars / raw_ids / 1e6:.2f} MB/s"
          f" (ratio {ours / raw_ids:.3f})")
    model = folder / "sentencepiece.model"
    if model.exists():
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(model))
        (native,) = _best_interleaved([lambda: processor.encode(lines)])
        print(f"    sentencepiece native encode (its own model): {chars / native / 1e6:.2f} MB/s,"
              f" workbench/sentencepiece time ratio {ours / native:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "french_prose"))
    parser.add_argument("--sample-lines", type=int, default=20_000)
    parser.add_argument("--vocab-size", type=int, default=8_000)
    parser.add_argument("--encode-lines", type=int, default=20_000)
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.data, "**", "*.txt"), recursive=True))
    if len(files) < 16:
        sys.exit(f"need at least 16 text files under {args.data}")
    small, large = files[: len(files) // 8], files[: (len(files) // 8) * 8]
    with tempfile.TemporaryDirectory() as tmp:
        sample_file = os.path.join(tmp, "sample.txt")
        n = _write_sample(large, args.sample_lines, sample_file)
        print(f"sample: {n} lines from {len(large)} files ({sum(os.path.getsize(f) for f in large) / 1e6:.1f} MB)")

        print("\n1. training: workbench vs the raw library on the same sample (fresh process each)")
        for algorithm, family, raw in (
            ("sentencepiece_bpe", "roberta", lambda: _in_process(_raw_sentencepiece, "bpe", sample_file, args.vocab_size)),
            ("sentencepiece_unigram", "roberta", lambda: _in_process(_raw_sentencepiece, "unigram", sample_file, args.vocab_size)),
            ("wordpiece", "bert", lambda: _in_process(_raw_wordpiece, sample_file, args.vocab_size)),
        ):
            out = os.path.join(tmp, algorithm)
            # workbench re-reads and samples the full corpus; the raw run gets the sample already drawn
            ours_s, ours_mb, _ = _in_process(_workbench_train, algorithm, family, [sample_file], 10**9, args.vocab_size, out)
            raw_s, raw_mb, _ = raw()
            print(f"  {algorithm}: workbench {ours_s:.2f} s / {ours_mb:.0f} MB, raw {raw_s:.2f} s / {raw_mb:.0f} MB;"
                  f" time ratio {ours_s / raw_s:.3f}, peak-memory ratio {ours_mb / raw_mb:.3f}")
            if family == "roberta":
                fast_s, fast_mb, _ = _in_process(
                    _workbench_train, algorithm, family, [sample_file], 10**9, args.vocab_size, out + "-nocount", False
                )
                print(f"    without dict.txt counting (fairseq_dict_counts=false): {fast_s:.2f} s / {fast_mb:.0f} MB;"
                      f" time ratio {fast_s / raw_s:.3f}")
            full_s, full_mb, _ = _in_process(_workbench_train, algorithm, family, large, args.sample_lines, args.vocab_size, out + "-full")
            print(f"    end to end from the {len(large)} raw files (sampling included): {full_s:.2f} s / {full_mb:.0f} MB")

        print("\n2. peak memory of sampling vs input size, fixed sample of", args.sample_lines, "lines")
        results = []
        for name, group in (("1x", small), ("8x", large)):
            seconds, mb, (seen, kept) = _in_process(_sample_only, group, args.sample_lines)
            results.append(mb)
            print(f"  {name}: {seen} lines read, {kept} kept, {seconds:.2f} s, peak {mb:.0f} MB")
        print(f"  peak-memory ratio 8x/1x: {results[1] / results[0]:.3f}")

        print("\n3. batch encoding throughput")
        with open(sample_file, encoding="utf-8") as handle:
            lines = handle.read().split("\n")[: args.encode_lines]
        for algorithm in ("wordpiece", "sentencepiece_bpe", "sentencepiece_unigram"):
            bench_encoding(Path(tmp) / algorithm, lines)


if __name__ == "__main__":
    main()
