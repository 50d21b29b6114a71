"""Bounded memory: the peak RSS of prepare stays flat when the corpus grows 8x."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_SCRIPT = textwrap.dedent(
    """
    import sys
    from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
    from workbench.corpus.prepare import prepare_corpus
    from workbench.tokenization.tokenizer import Tokenizer
    corpus = CorpusConfig(name="m", sources=[SourceConfig(path=sys.argv[1])], document_boundary="line", validation_fraction=0.01)
    # word cache capped at 16k words: full after the 1x corpus
    packing = PackingConfig(mode="full_sentences", max_seq_len=128, shard_tokens=100_000, word_cache_entries=16384)
    manifest = prepare_corpus(corpus, packing, Tokenizer.load(sys.argv[2]), sys.argv[3], seed=0, progress=False)
    # VmHWM: the peak RSS of this process image (ru_maxrss would include the parent's RSS at fork time)
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
    print(peak, manifest["splits"]["train"]["tokens"])
    """
)


def _text_of_size(files: list[Path], size: int) -> str:
    lines, total = [], 0
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            lines.append(line)
            total += len(line) + 1
            if total >= size:
                return "\n".join(lines) + "\n"
    raise AssertionError("not enough text")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS (VmHWM) from /proc")
def test_peak_rss_flat_when_the_corpus_grows_8x(tmp_path, prose_files, bert_tokenizer):
    results = {}
    # 1.5 MB is past the warm-up (capped word cache filled, allocator and tokenizer heap grown): from 0.5 MB
    # the same 8x step measures that warm-up (measured 63 -> 67 -> 69 MiB at 0.5, 4 and 12 MB: a plateau).
    for name, size in (("x1", 1_500_000), ("x8", 12_000_000)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "a.txt").write_text(_text_of_size(prose_files, size), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(folder / "a.txt"), str(bert_tokenizer.directory), str(tmp_path / f"out-{name}")],
            env=env, capture_output=True, text=True, check=True,
        )
        rss_kib, tokens = map(int, done.stdout.split())
        results[name] = (rss_kib / 1024, tokens)
    (rss1, tokens1), (rss8, tokens8) = results["x1"], results["x8"]
    assert tokens8 > 7 * tokens1
    # Measured: ~63 -> ~69 MiB (the capped word cache filling up, 8 bytes per document of dedup table, and
    # the heap of the Rust tokenizer, which plateaus). Holding the 8x corpus in memory would add its text
    # (4 MB) plus its ids (>= 10 MB as int64, ~40 MB as Python lists).
    assert rss8 - rss1 < 8, f"peak RSS grew from {rss1:.0f} MiB to {rss8:.0f} MiB"
