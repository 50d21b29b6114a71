"""Uniform, seeded line sampling from streams far larger than memory.

``reservoir_sample`` keeps ``k`` lines of a stream of unknown length, each line
with the same probability k/n (Li's "Algorithm L": one random draw per *kept*
line, not per line read), in memory proportional to ``k`` only.

``sample_lines`` draws the training sample of a vocabulary from several
sources. One language (and equal weights): one pass, one reservoir over the
concatenated stream. A multilingual or weighted mix: a first pass counts the
usable lines of each source, the per-source quotas follow XLM's smoothing
(q_i ∝ p_i ** alpha over languages, p_i the weighted share of language i) and a
second pass fills one reservoir per source. Memory stays bounded by the sample
size in both cases. A language whose quota exceeds its lines is upsampled by
repeating its lines (whole copies, then a seeded subset), as XLM does.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from workbench.corpus.config import SourceConfig
from workbench.text.sources import describe_files, iter_source_line_blocks


class SamplingError(ValueError):
    """The sources cannot give a usable sample; the message names the reason and the fix."""


@dataclass
class LineSample:
    lines: List[str]
    sha256: str  # hash of the sampled lines in order ("\n"-terminated UTF-8)
    lines_seen: int  # usable lines read (after skips)
    skipped: Dict[str, int]  # reason -> lines left out (empty, overlong)
    repaired: Dict[str, int]  # reason -> lines kept after repair (undecodable bytes -> U+FFFD, NUL removed)
    sources: List[Dict] = field(default_factory=list)  # per source: path, language, weight, lines, sampled
    languages: Dict[str, Dict[str, float]] = field(default_factory=dict)  # language -> natural share, sampled share

    def describe(self) -> Dict:
        return {
            "sample_sha256": self.sha256,
            "sample_lines": len(self.lines),
            "sample_chars": sum(map(len, self.lines)),
            "lines_seen": self.lines_seen,
            "skipped": dict(self.skipped),
            "repaired": dict(self.repaired),
            "sources": self.sources,
            "languages": self.languages,
        }


def _random_open01(rng: random.Random) -> float:
    u = rng.random()
    while u == 0.0:
        u = rng.random()
    return u


def reservoir_sample(lines: Iterable[str], k: int, rng: random.Random) -> Tuple[List[str], int]:
    """A uniform sample of ``k`` items of ``lines`` (all of them if fewer) and the number of items read."""
    return reservoir_sample_blocks(([line] for line in lines), k, rng)


def reservoir_sample_blocks(blocks: Iterable[List[str]], k: int, rng: random.Random) -> Tuple[List[str], int]:
    """``reservoir_sample`` of the items of consecutive blocks (same draws, same sample): Python work per
    block and per kept item, none per item read."""
    reservoir: List[str] = []
    seen = 0
    if k <= 0:
        return reservoir, sum(len(block) for block in blocks)
    w = 0.0
    next_index = 0  # 0-based index of the next item that enters the reservoir, once it is full
    for block in blocks:
        base = seen
        seen += len(block)
        if len(reservoir) < k:
            reservoir.extend(block[: k - len(reservoir)])
            if len(reservoir) < k:
                continue
            w = math.exp(math.log(_random_open01(rng)) / k)
            next_index = k + _skip(rng, w)
        while next_index < seen:
            reservoir[rng.randrange(k)] = block[next_index - base]
            w *= math.exp(math.log(_random_open01(rng)) / k)
            next_index = next_index + 1 + _skip(rng, w)
    return reservoir, seen


def _skip(rng: random.Random, w: float) -> int:
    w = min(w, math.nextafter(1.0, 0.0))
    return int(math.floor(math.log(_random_open01(rng)) / math.log1p(-w)))


def smoothed_language_shares(mass: Dict[str, float], alpha: float) -> Dict[str, float]:
    """q_i ∝ p_i ** alpha with p_i = mass_i / sum(mass) (languages with no mass get 0)."""
    total = sum(mass.values())
    if total <= 0:
        return {language: 0.0 for language in mass}
    powered = {language: (m / total) ** alpha if m > 0 else 0.0 for language, m in mass.items()}
    norm = sum(powered.values())
    return {language: value / norm for language, value in powered.items()}


def apportion(total: int, shares: Sequence[float]) -> List[int]:
    """Integers proportional to ``shares`` summing to ``total`` (largest remainder, ties by position)."""
    raw = [total * share for share in shares]
    counts = [int(math.floor(value)) for value in raw]
    remainder = total - sum(counts)
    order = sorted(range(len(shares)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[:remainder]:
        counts[i] += 1
    return counts


def source_quotas(
    counts: Sequence[int], weights: Sequence[float], languages: Sequence[str], alpha: float, total: int
) -> List[int]:
    """Lines to draw from each source: XLM smoothing across languages, weighted shares within a language."""
    mass = [count * weight for count, weight in zip(counts, weights)]
    language_mass: Dict[str, float] = {}
    for language, m in zip(languages, mass):
        language_mass[language] = language_mass.get(language, 0.0) + m
    q = smoothed_language_shares(language_mass, alpha)
    shares = [q[language] * (m / language_mass[language]) if language_mass[language] > 0 else 0.0 for language, m in zip(languages, mass)]
    return apportion(total, shares)


def _source_rng(seed: int, index: int) -> random.Random:
    digest = hashlib.sha256(f"workbench-sample/{seed}/{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def _usable_line_blocks(source: SourceConfig, max_line_chars: int, skipped: Counter, stats: Counter) -> Iterator[List[str]]:
    """Blocks of the usable lines of a source: blank and overlong lines left out and counted."""
    for block in iter_source_line_blocks(source, stats):
        n = len(block)
        lengths = np.fromiter(map(len, block), dtype=np.int64, count=n)
        blank = (lengths == 0) | np.fromiter(map(str.isspace, block), dtype=bool, count=n)
        overlong = ~blank & (lengths > max_line_chars)
        usable = ~(blank | overlong)
        empty_count, overlong_count = int(blank.sum()), int(overlong.sum())
        if empty_count:
            skipped["empty"] += empty_count
        if overlong_count:
            skipped["overlong"] += overlong_count
        kept = block if empty_count + overlong_count == 0 else list(compress(block, usable.tolist()))
        with_nul = sum(map(str.__contains__, kept, repeat("\x00")))
        if with_nul:
            stats["lines_with_nul"] += with_nul  # kept: the normalizer removes NUL and other control characters
        yield kept


def _upsample(lines: List[str], quota: int, rng: random.Random) -> List[str]:
    if quota <= len(lines) or not lines:
        return lines[:quota]
    copies, extra = divmod(quota, len(lines))
    return lines * copies + rng.sample(lines, extra)


def _hash_lines(lines: Sequence[str], chunk_lines: int = 10_000) -> str:
    """sha256 of the lines, each followed by a newline (hashed a chunk of lines at a time)."""
    digest = hashlib.sha256()
    for start in range(0, len(lines), chunk_lines):
        chunk = lines[start : start + chunk_lines]
        digest.update(("\n".join(chunk) + "\n").encode("utf-8", errors="surrogatepass"))
    return digest.hexdigest()


def sample_lines(
    sources: Sequence[SourceConfig],
    n_lines: int,
    seed: int,
    alpha: float = 1.0,
    max_line_chars: int = 100_000,
) -> LineSample:
    """The seeded training sample of at most ``n_lines`` lines (see the module docstring)."""
    if not sources:
        raise SamplingError("no corpus sources given; set corpus.sources (a file, glob, folder, jsonl or dataset)")
    if n_lines <= 0:
        raise SamplingError(f"the sample size must be > 0 (got {n_lines})")
    skipped: Counter = Counter()
    stats: Counter = Counter()
    languages = [source.language for source in sources]
    weights = [float(source.weight) for source in sources]
    single_pass = len(set(languages)) == 1 and len(set(weights)) == 1
    per_source: List[List[str]] = []
    seen: List[int] = []
    if single_pass:
        counter = [0] * len(sources)

        def stream() -> Iterator[List[str]]:
            for index, source in enumerate(sources):
                for block in _usable_line_blocks(source, max_line_chars, skipped, stats):
                    counter[index] += len(block)
                    yield block

        lines, _ = reservoir_sample_blocks(stream(), n_lines, _source_rng(seed, 0))
        seen = counter
        per_source = [lines]
        sampled_counts: List[Optional[int]] = [None] * len(sources)
    else:
        for source in sources:
            seen.append(sum(len(block) for block in _usable_line_blocks(source, max_line_chars, skipped, stats)))
        total = min(n_lines, sum(seen))
        quotas = source_quotas(seen, weights, languages, alpha, total)
        sampled_counts = list(quotas)
        for index, (source, quota) in enumerate(zip(sources, quotas)):
            rng = _source_rng(seed, index)
            kept, _ = reservoir_sample_blocks(_usable_line_blocks(source, max_line_chars, Counter(), Counter()), min(quota, seen[index]), rng)
            per_source.append(_upsample(kept, quota, rng))
        lines = [line for chunk in per_source for line in chunk]
    lines_seen = sum(seen)
    if stats.get("null_records"):  # records without text: left out, like blank lines
        skipped["null_records"] = stats.pop("null_records")
    if not lines:
        raise SamplingError(
            f"the corpus is empty: no non-blank line of at most {max_line_chars} characters in {describe_files(sources)}"
            f" (skipped: {dict(skipped) or 'nothing'}); check corpus.sources"
        )
    description_sources = []
    for index, source in enumerate(sources):
        entry = {"path": source.path, "kind": source.kind, "language": source.language, "weight": source.weight, "lines": seen[index]}
        if sampled_counts[index] is not None:
            entry["sampled"] = sampled_counts[index]
        description_sources.append(entry)
    language_lines: Dict[str, int] = {}
    for language, count in zip(languages, seen):
        language_lines[language] = language_lines.get(language, 0) + count
    if single_pass:
        language_share = {language: {"lines": count, "natural_share": count / max(lines_seen, 1), "sample_share": 1.0} for language, count in language_lines.items()}
    else:
        language_sampled: Dict[str, int] = {}
        for language, count in zip(languages, sampled_counts):
            language_sampled[language] = language_sampled.get(language, 0) + int(count or 0)
        language_share = {
            language: {
                "lines": count,
                "natural_share": count / max(lines_seen, 1),
                "sample_share": language_sampled[language] / len(lines),
            }
            for language, count in language_lines.items()
        }
    return LineSample(lines, _hash_lines(lines), lines_seen, dict(skipped), dict(stats), description_sources, language_share)
