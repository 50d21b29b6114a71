"""Seeded uniform sampling: correct statistics, bounded memory, every input format, smoothing of language mixes."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import math
import random
import tracemalloc

import pytest

from workbench.corpus.config import SourceConfig
from workbench.text.sampling import (
    SamplingError,
    apportion,
    reservoir_sample,
    sample_lines,
    smoothed_language_shares,
    source_quotas,
)


def test_reservoir_keeps_everything_when_short():
    items = [str(i) for i in range(7)]
    kept, seen = reservoir_sample(items, 10, random.Random(0))
    assert kept == items and seen == 7


def test_reservoir_is_uniform():
    n, k, trials = 60, 6, 12_000
    counts = [0] * n
    rng = random.Random(1234)
    for _ in range(trials):
        kept, seen = reservoir_sample(range(n), k, rng)
        assert seen == n and len(kept) == k and len(set(kept)) == k
        for item in kept:
            counts[item] += 1
    expected = trials * k / n
    chi2 = sum((count - expected) ** 2 / expected for count in counts)
    # 59 degrees of freedom: P(chi2 > 110) < 1e-4 for a uniform sampler
    assert chi2 < 110, chi2
    # first and last positions are not favoured
    assert abs(sum(counts[:10]) - sum(counts[-10:])) < 6 * math.sqrt(20 * expected)


def test_reservoir_is_deterministic_per_seed():
    data = [f"line {i}" for i in range(10_000)]
    a, _ = reservoir_sample(data, 100, random.Random(7))
    b, _ = reservoir_sample(data, 100, random.Random(7))
    c, _ = reservoir_sample(data, 100, random.Random(8))
    assert a == b and a != c


def test_sampling_memory_is_bounded_by_sample_size():
    k = 500

    def stream(n):
        for i in range(n):
            yield f"{i:08d} " + "x" * 120

    peaks = []
    for n in (5_000, 40_000):  # the input grows 8x at a fixed sample size
        tracemalloc.start()
        kept, seen = reservoir_sample(stream(n), k, random.Random(0))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert seen == n and len(kept) == k
        peaks.append(peak)
    assert peaks[1] < 1.5 * peaks[0] + 50_000, peaks  # flat in the stream length
    assert peaks[1] < 1_000_000, peaks  # ~ k lines of 130 characters, not the 5 MB stream


def _write_compressed(tmp_path, lines):
    raw = "".join(f"{line}\n" for line in lines).encode("utf-8")
    (tmp_path / "a.txt.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "b.txt.bz2").write_bytes(bz2.compress(raw))
    (tmp_path / "c.txt.xz").write_bytes(lzma.compress(raw))


def test_sample_lines_reads_compressed_files_and_jsonl(tmp_path):
    lines = [f"phrase numéro {i} à l'école" for i in range(100)]
    _write_compressed(tmp_path, lines)
    with open(tmp_path / "d.jsonl", "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps({"text": line, "id": 1}, ensure_ascii=False) + "\n")
    sample = sample_lines([SourceConfig(path=str(tmp_path / "*.txt.*"))], 10_000, seed=0)
    assert sorted(sample.lines) == sorted(lines * 3)
    assert sample.lines_seen == 300
    sample = sample_lines([SourceConfig(path=str(tmp_path / "d.jsonl"), kind="jsonl")], 10_000, seed=0)
    assert sorted(sample.lines) == sorted(lines)


def test_sample_lines_counts_skips_and_repairs(tmp_path):
    path = tmp_path / "dirty.txt"
    path.write_bytes(
        b"bonne ligne\n\n   \nligne \xff\xfe cass\xc3e\nnul\x00ici\n" + b"x" * 5_000 + b"\nfin\n"
    )
    sample = sample_lines([SourceConfig(path=str(path))], 100, seed=0, max_line_chars=1_000)
    assert sample.skipped == {"empty": 2, "overlong": 1}
    assert sample.repaired == {"undecodable_lines": 1, "lines_with_nul": 1}
    assert len(sample.lines) == 4
    assert any("\ufffd" in line for line in sample.lines)


def test_sample_is_deterministic_and_hashed(tmp_path):
    (tmp_path / "t.txt").write_text("".join(f"ligne {i}\n" for i in range(5_000)), encoding="utf-8")
    source = [SourceConfig(path=str(tmp_path / "t.txt"))]
    a = sample_lines(source, 500, seed=3)
    b = sample_lines(source, 500, seed=3)
    c = sample_lines(source, 500, seed=4)
    assert a.lines == b.lines and a.sha256 == b.sha256
    assert a.sha256 != c.sha256 and len(a.lines) == 500


def test_empty_sources_raise():
    with pytest.raises(SamplingError, match="no corpus sources"):
        sample_lines([], 10, seed=0)


def test_empty_corpus_raises(tmp_path):
    (tmp_path / "e.txt").write_text("\n \n\t\n", encoding="utf-8")
    with pytest.raises(SamplingError, match="corpus is empty"):
        sample_lines([SourceConfig(path=str(tmp_path / "e.txt"))], 10, seed=0)


def test_xlm_smoothing_formula():
    shares = smoothed_language_shares({"fr": 900.0, "br": 100.0}, alpha=0.5)
    p_fr, p_br = 0.9, 0.1
    assert shares["fr"] == pytest.approx(p_fr**0.5 / (p_fr**0.5 + p_br**0.5))
    assert shares["br"] == pytest.approx(p_br**0.5 / (p_fr**0.5 + p_br**0.5))
    assert smoothed_language_shares({"fr": 900.0, "br": 100.0}, alpha=1.0) == pytest.approx({"fr": 0.9, "br": 0.1})


def test_apportion_sums_exactly():
    assert apportion(10, [1 / 3, 1 / 3, 1 / 3]) == [4, 3, 3]
    assert sum(apportion(1_000_003, [0.123, 0.456, 0.421])) == 1_000_003


def test_source_quotas_weights_within_language():
    # two French sources, the second upweighted x3; one Breton source; alpha 0.5 across languages
    quotas = source_quotas([600, 300, 100], [1.0, 3.0, 1.0], ["fr", "fr", "br"], alpha=0.5, total=1000)
    fr_mass, br_mass = 600 + 900, 100
    q_fr = (fr_mass / 1600) ** 0.5 / ((fr_mass / 1600) ** 0.5 + (br_mass / 1600) ** 0.5)
    assert sum(quotas) == 1000
    assert quotas[0] + quotas[1] == pytest.approx(1000 * q_fr, abs=1)
    assert quotas[1] == pytest.approx(quotas[0] * 900 / 600, abs=1)


def test_multilingual_sample_follows_smoothed_shares_and_upsamples(tmp_path):
    (tmp_path / "fr.txt").write_text("".join(f"phrase française {i}\n" for i in range(2_000)), encoding="utf-8")
    (tmp_path / "br.txt").write_text("".join(f"frazenn brezhonek {i}\n" for i in range(50)), encoding="utf-8")
    sources = [
        SourceConfig(path=str(tmp_path / "fr.txt"), language="fr"),
        SourceConfig(path=str(tmp_path / "br.txt"), language="br"),
    ]
    sample = sample_lines(sources, 1_000, seed=0, alpha=0.3)
    p = {"fr": 2000 / 2050, "br": 50 / 2050}
    q_br = p["br"] ** 0.3 / (p["fr"] ** 0.3 + p["br"] ** 0.3)
    breton = [line for line in sample.lines if line.startswith("frazenn")]
    assert len(sample.lines) == 1_000
    assert len(breton) == round(1_000 * q_br)  # > 50: the Breton lines are repeated
    assert len(breton) > 50 and len(set(breton)) == 50
    assert sample.languages["br"]["sample_share"] == pytest.approx(len(breton) / 1000)
