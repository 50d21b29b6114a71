"""Benchmark of vocabulary training and encoding, side by side with the raw libraries (not a test).

    PYTHONPATH=. python benchmarks/bench_tokenizer.py [--data /work/shared/data/french_prose] [--sample-lines 20000]
                                                      [--vocab-size 8000] [--encode-lines 20000] [--repeats 3]

Prints, for each measurement, workbench vs the library called directly on the same sample, as ratios
(medians of the per-repeat ratios; the two routes run interleaved, each in a fresh process; training times by
the wall clock and by the process CPU clock, user + system of every thread):

1. training time and memory. The sample is drawn once (seeded reservoir over the corpus) and written to a
   file, outside every timing. Each route then starts from that file; library imports happen before its
   clock starts (the raw route imports its library, workbench imports its training modules, which load the
   same libraries plus numpy):
   - workbench ``train_tokenizer`` on the file: reading + sampling it, normalization, training,
     conversion to a `tokenizers` pipeline, every exported file (tokenizer.json, transformers files,
     the native artefacts: SentencePiece model, fairseq dict.txt with counts, vocab.txt), the load check
     and the manifest;
   - raw SentencePiece: ``SentencePieceTrainer.Train(input=file)`` with the options workbench passes
     (model type, vocabulary size, character coverage, whitespace splitting, control ids, one thread),
     SentencePiece doing its own default normalization (nmt_nfkc) in C++;
   - raw WordPiece: `tokenizers` WordPiece trainer with BERT's normalizer (accents kept) and
     pre-tokenizer on the file's lines.
   Memory: the peak resident set of the process, and the training's share of it (peak minus the resident
   set after the imports): the imports differ by a fixed ~30 MB (numpy, tokenizers and the workbench
   package on top of the library), which dominates small samples but not real ones.
2. peak memory of sampling when the input grows 8x at a fixed sample size (should stay flat);
3. batch encoding throughput: ``Tokenizer.encode_batch`` vs the `tokenizers` backend's ``encode_batch``
   and ``encode_batch_fast`` with the ids read, and vs ``sentencepiece`` encoding the same lines
   (sentencepiece folders).
"""

from __future__ import annotations

import argparse
import glob
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _peak_mb() -> float:
    """Peak resident set of this process image: VmHWM (Linux), which starts afresh at exec; ru_maxrss would
    include the RSS the parent had when it started this process."""
    try:
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:")) / 1024.0
    except (OSError, StopIteration):  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_mb() -> float:
    """Resident set now (Linux /proc); the peak so far elsewhere."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        return _peak_mb()


def _in_process(target, *args):
    """Run ``target(*args)`` in a fresh process; returns ((wall s, CPU s), peak MB, MB after imports, result)."""
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
        seconds, base_mb, result = target(*args)
        queue.put((seconds, _peak_mb(), base_mb, result))
    except BaseException as error:  # reported in the parent
        queue.put(error)


# -- training --------------------------------------------------------------------------------------------------
def _workbench_train(algorithm, family, sources, sample_lines, vocab_size, out_dir, dict_counts=True):
    from workbench.corpus.config import SourceConfig
    from workbench.tokenization.config import TokenizerConfig
    from workbench.tokenization.train import _trainer, train_tokenizer

    _trainer(algorithm)  # imports the algorithm's module (and its libraries) before the clock
    config = TokenizerConfig(
        name=f"bench-{algorithm}", algorithm=algorithm, special_tokens=family, vocab_size=vocab_size,
        sample_lines=sample_lines, fairseq_dict_counts=dict_counts,
    )
    base = _current_mb()
    started, cpu = time.perf_counter(), time.process_time()
    train_tokenizer(config, [SourceConfig(path=p) for p in sources], Path(out_dir))
    return (time.perf_counter() - started, time.process_time() - cpu), base, None


def _raw_sentencepiece(model_type, sample_file, vocab_size):
    import sentencepiece as spm

    from workbench.tokenization.config import TokenizerConfig

    defaults = TokenizerConfig(name="raw")  # the same trainer options as workbench's defaults
    spm.set_random_generator_seed(defaults.seed)
    base = _current_mb()
    started, cpu = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as log:
        spm.SentencePieceTrainer.Train(
            logstream=log, minloglevel=1, input=sample_file,
            model_prefix=str(Path(sample_file).with_suffix("")) + f"-{model_type}",
            model_type=model_type, vocab_size=vocab_size - 2,  # roberta: 4 specials + <mask> for spm's 3 controls
            character_coverage=defaults.character_coverage, split_by_whitespace=True, byte_fallback=False,
            unk_id=0, bos_id=1, eos_id=2, pad_id=-1, input_sentence_size=0, shuffle_input_sentence=False,
            num_threads=defaults.num_threads, max_sentence_length=4 * defaults.max_line_chars, hard_vocab_limit=True,
        )
    return (time.perf_counter() - started, time.process_time() - cpu), base, None


def _raw_wordpiece(sample_file, vocab_size):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    base = _current_mb()
    started, cpu = time.perf_counter(), time.process_time()
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
    return (time.perf_counter() - started, time.process_time() - cpu), base, None


def _sample_only(sources, sample_lines):
    from workbench.corpus.config import SourceConfig
    from workbench.text.sampling import sample_lines as draw

    base = _current_mb()
    started, cpu = time.perf_counter(), time.process_time()
    sample = draw([SourceConfig(path=p) for p in sources], sample_lines, seed=0)
    return (time.perf_counter() - started, time.process_time() - cpu), base, (sample.lines_seen, len(sample.lines))


def _write_sample(sources, sample_lines, path):
    from workbench.corpus.config import SourceConfig
    from workbench.text.sampling import sample_lines as draw

    sample = draw([SourceConfig(path=p) for p in sources], sample_lines, seed=0, max_line_chars=100_000)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(sample.lines))
    return len(sample.lines)


def _median(values):
    return statistics.median(values)


def bench_training(algorithm, family, raw, sample_file, vocab_size, tmp, repeats):
    """Interleaved runs of workbench and the raw library; prints medians and per-repeat ratios, by the wall
    clock and by the process CPU clock (the steadier one when other work shares the machine)."""
    ours, theirs, uncounted = [], [], []
    for repeat in range(repeats):
        out = os.path.join(tmp, algorithm) if repeat == 0 else os.path.join(tmp, f"{algorithm}-{repeat}")
        ours.append(_in_process(_workbench_train, algorithm, family, [sample_file], 10**9, vocab_size, out))
        theirs.append(raw())
        if family == "roberta":
            uncounted.append(_in_process(_workbench_train, algorithm, family, [sample_file], 10**9, vocab_size, out + "-nocount", False))

    def times(runs, clock):  # clock 0: wall, 1: CPU
        return [run[0][clock] for run in runs]

    def ratios(runs, clock):
        return [o / r for o, r in zip(times(runs, clock), times(theirs, clock))]

    for clock, name in ((0, "wall"), (1, "CPU")):
        print(f"  {algorithm} ({name} clock): workbench {_median(times(ours, clock)):.2f} s, raw {_median(times(theirs, clock)):.2f} s:"
              f" ratio {_median(ratios(ours, clock)):.3f} (per repeat {', '.join(f'{r:.2f}' for r in ratios(ours, clock))})")
        if uncounted:
            print(f"    without dict.txt counting (fairseq_dict_counts=false): {_median(times(uncounted, clock)):.2f} s;"
                  f" ratio {_median(ratios(uncounted, clock)):.3f}")
    peak_ratio = _median([o[1] / r[1] for o, r in zip(ours, theirs)])
    train_ratio = _median([(o[1] - o[2]) / max(r[1] - r[2], 1e-9) for o, r in zip(ours, theirs)])
    print(f"    peak RSS workbench {_median([o[1] for o in ours]):.0f} MB, raw {_median([r[1] for r in theirs]):.0f} MB: ratio {peak_ratio:.3f};"
          f" training's share (peak - RSS after imports) workbench {_median([o[1] - o[2] for o in ours]):.0f} MB,"
          f" raw {_median([r[1] - r[2] for r in theirs]):.0f} MB: ratio {train_ratio:.3f}")


# -- encoding --------------------------------------------------------------------------------------------------
def _median_interleaved(functions, repeat=7):
    """Median time of each function, runs interleaved so that load changes on the machine hit all alike."""
    times = [[] for _ in functions]
    for _ in range(repeat):
        for index, function in enumerate(functions):
            started = time.perf_counter()
            function()
            times[index].append(time.perf_counter() - started)
    return [_median(t) for t in times]


def bench_encoding(folder: Path, lines):
    from workbench.tokenization.tokenizer import Tokenizer

    tok = Tokenizer.load(folder)
    chars = sum(len(line) for line in lines)
    backend = tok.backend
    functions = [
        lambda: tok.encode_batch(lines),
        lambda: [encoding.ids for encoding in backend.encode_batch(lines, add_special_tokens=False)],
    ]
    if hasattr(backend, "encode_batch_fast"):
        functions.append(lambda: [encoding.ids for encoding in backend.encode_batch_fast(lines, add_special_tokens=False)])
    ours, raw, *fast = _median_interleaved(functions)
    line = (f"  encode_batch {folder.name}: workbench {chars / ours / 1e6:.2f} MB/s; tokenizers encode_batch + .ids"
            f" {chars / raw / 1e6:.2f} MB/s (workbench/raw time ratio {ours / raw:.3f})")
    if fast:
        line += f"; encode_batch_fast + .ids {chars / fast[0] / 1e6:.2f} MB/s (ratio {ours / fast[0]:.3f})"
    print(line)
    model = folder / "sentencepiece.model"
    if model.exists():
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(model))
        (native,) = _median_interleaved([lambda: processor.encode(lines)], repeat=3)
        print(f"    sentencepiece native encode (its own model): {chars / native / 1e6:.2f} MB/s,"
              f" workbench/sentencepiece time ratio {ours / native:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "french_prose"))
    parser.add_argument("--sample-lines", type=int, default=20_000)
    parser.add_argument("--vocab-size", type=int, default=8_000)
    parser.add_argument("--encode-lines", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each route (medians reported)")
    parser.add_argument("--algorithms", default="sentencepiece_bpe,sentencepiece_unigram,wordpiece")
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.data, "**", "*.txt"), recursive=True))
    if len(files) < 16:
        sys.exit(f"need at least 16 text files under {args.data}")
    small, large = files[: len(files) // 8], files[: (len(files) // 8) * 8]
    algorithms = args.algorithms.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        sample_file = os.path.join(tmp, "sample.txt")
        n = _write_sample(large, args.sample_lines, sample_file)
        print(f"sample: {n} lines from {len(large)} files ({sum(os.path.getsize(f) for f in large) / 1e6:.1f} MB),"
              f" {os.path.getsize(sample_file) / 1e6:.1f} MB; vocabulary {args.vocab_size}; {os.cpu_count()} CPUs")

        print(f"\n1. training on the same sample file: workbench vs the raw library (fresh process each, {args.repeats} interleaved repeats)")
        raws = {
            "sentencepiece_bpe": ("roberta", lambda: _in_process(_raw_sentencepiece, "bpe", sample_file, args.vocab_size)),
            "sentencepiece_unigram": ("roberta", lambda: _in_process(_raw_sentencepiece, "unigram", sample_file, args.vocab_size)),
            "wordpiece": ("bert", lambda: _in_process(_raw_wordpiece, sample_file, args.vocab_size)),
        }
        for algorithm in algorithms:
            family, raw = raws[algorithm]
            bench_training(algorithm, family, raw, sample_file, args.vocab_size, tmp, args.repeats)
            full = _in_process(_workbench_train, algorithm, family, large, args.sample_lines, args.vocab_size, os.path.join(tmp, algorithm + "-full"))
            print(f"    end to end from the {len(large)} raw files (sampling included): {full[0][0]:.2f} s wall, {full[0][1]:.2f} s CPU / {full[1]:.0f} MB")

        print("\n2. peak memory of sampling vs input size, fixed sample of", args.sample_lines, "lines")
        results = []
        for name, group in (("1x", small), ("8x", large)):
            seconds, mb, _base, (seen, kept) = _in_process(_sample_only, group, args.sample_lines)
            results.append(mb)
            print(f"  {name}: {seen} lines read, {kept} kept, {seconds[0]:.2f} s, peak {mb:.0f} MB")
        print(f"  peak-memory ratio 8x/1x: {results[1] / results[0]:.3f}")

        print("\n3. batch encoding throughput (medians of 7 interleaved runs)")
        with open(sample_file, encoding="utf-8") as handle:
            lines = handle.read().split("\n")[: args.encode_lines]
        for algorithm in algorithms:
            bench_encoding(Path(tmp) / algorithm, lines)


if __name__ == "__main__":
    main()
