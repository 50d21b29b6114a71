"""Pieces shared by every algorithm: the normalizer of a config, the alphabet cut, the finished pipeline."""

from __future__ import annotations

import ctypes
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np
from tokenizers import AddedToken, Tokenizer as HFTokenizer

from workbench.text.codepoints import code_points
from workbench.text.normalize import NormalizationSpec, build_normalizer, normalize_lines
from workbench.text.sources import iter_file_line_blocks
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.errors import TokenizerTrainingError, VocabularySizeError
from workbench.tokenization.families import Family

CHUNK_LINES = 10_000


@dataclass
class TrainedVocabulary:
    """What an algorithm trainer returns: the pipeline plus its native files."""

    backend: HFTokenizer  # normalizer, pre-tokenizer, model (final ids), decoder
    write_native: Callable[[Path], List[str]]  # writes native artefacts into a folder, returns their names
    pre_tokenizer: Optional[str] = None  # "moses" when text is pre-tokenized in Python before the backend
    extra_meta: Dict = field(default_factory=dict)


def normalization_spec(config: TokenizerConfig) -> NormalizationSpec:
    return NormalizationSpec(
        unicode_form=config.unicode_normalization,
        apostrophes=config.normalize_apostrophes,
        lowercase=config.lowercase,
        strip_accents=config.strip_accents,
    )


def normalizer_for(config: TokenizerConfig):
    return build_normalizer(normalization_spec(config))


def iter_normalized_chunks(
    lines: Sequence[str], spec: NormalizationSpec, chunk_lines: int = CHUNK_LINES
) -> Iterable[List[str]]:
    """The sample as the saved normalizer sees it, in chunks (lines that normalize to nothing dropped)."""
    for start in range(0, len(lines), chunk_lines):
        yield [line for line in normalize_lines(lines[start : start + chunk_lines], spec) if line]


class NormalizedSample:
    """The training sample normalized into a UTF-8 text file, one line per line: what the libraries train on.

    Writing it empties the list of raw lines (the trainers own the sample), so neither the raw nor the
    normalized lines stay in Python memory while the library trains: like a run of the library on a file,
    the training holds only the library's own copy. Lines that normalize to nothing are left out.
    """

    def __init__(self, lines: List[str], spec: NormalizationSpec, path: Path, count_characters: bool = False) -> None:
        self.path = path
        self.lines = 0
        counts = CharacterCounts() if count_characters else None
        with open(path, "w", encoding="utf-8", errors="surrogatepass", newline="\n") as handle:
            for chunk in iter_normalized_chunks(lines, spec):
                if not chunk:
                    continue
                text = "\n".join(chunk)
                handle.write(text)
                handle.write("\n")
                if counts is not None:
                    counts.add(text)
                self.lines += len(chunk)
        lines.clear()
        # occurrences of each non-space character (with count_characters)
        self.characters: Counter = counts.as_counter(exclude=" \n") if counts is not None else Counter()

    def iter_blocks(self) -> Iterator[List[str]]:
        """The normalized lines, a block of about 256 KiB at a time."""
        for block, _flags in iter_file_line_blocks(self.path):
            yield block


def release_free_memory() -> None:
    """Give the C heap's free memory back to the system (glibc ``malloc_trim``; nothing elsewhere).

    A library that trained in this process (SentencePiece) frees its memory to the C heap, which keeps it
    resident; without this, what the process allocates next (dict.txt counting, the exported files) would
    raise the peak resident set above the training's own peak.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class CharacterCounts:
    """Occurrences of each character of texts, counted by numpy over code points (a ``Counter`` fed
    character by character costs about ten times more)."""

    def __init__(self) -> None:
        self._counts = np.zeros(0, dtype=np.int64)  # indexed by code point, grown to the largest one seen

    def add(self, text: str) -> None:
        codes = code_points(text)
        found = np.bincount(codes)
        if found.size > self._counts.size:
            self._counts = np.concatenate([self._counts, np.zeros(found.size - self._counts.size, dtype=np.int64)])
        self._counts[: found.size] += found

    def as_counter(self, exclude: str = "") -> Counter:
        counts = self._counts.copy()
        counts[[code for code in map(ord, exclude) if code < counts.size]] = 0
        present = np.flatnonzero(counts)
        return Counter(dict(zip(map(chr, present.tolist()), counts[present].tolist())))


def alphabet_size_for_coverage(counts: Counter, coverage: float) -> int:
    """Smallest number of most frequent characters covering ``coverage`` of all occurrences.

    The cut never falls inside a group of equally frequent characters, so the kept set does not depend on
    how a library breaks ties.
    """
    if not counts:
        return 0
    frequencies = sorted(counts.values(), reverse=True)
    total = sum(frequencies)
    if coverage >= 1.0:
        return len(frequencies)
    running = 0
    for index, frequency in enumerate(frequencies):
        running += frequency
        if running >= coverage * total:
            kept = index + 1
            while kept < len(frequencies) and frequencies[kept] == frequencies[kept - 1]:
                kept += 1
            return kept
    return len(frequencies)


def kept_alphabet(counts: Counter, coverage: float) -> List[str]:
    """The characters ``alphabet_size_for_coverage`` keeps, in a fixed order (most frequent first, then by code)."""
    size = alphabet_size_for_coverage(counts, coverage)
    return sorted(counts, key=lambda char: (-counts[char], char))[:size]


def finish_pipeline(backend: HFTokenizer, family: Family, vocab_size: int, algorithm: str) -> HFTokenizer:
    """Register the special tokens (already in the model at their ids), add the post-processor, check ids and size."""
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in family.all_tokens])
    vocab = backend.get_vocab(with_added_tokens=True)
    size = backend.get_vocab_size(with_added_tokens=True)
    expected = {token: index for index, token in enumerate(family.leading)}
    expected.update({token: size - len(family.trailing) + index for index, token in enumerate(family.trailing)})
    for token, index in expected.items():
        if vocab.get(token) != index:
            raise TokenizerTrainingError(
                f"internal error: {algorithm} put special token {token!r} at id {vocab.get(token)}, expected {index}"
            )
    if size > vocab_size:  # (byte_bpe's 256 bytes are refused before training, by check_reachable)
        raise VocabularySizeError(
            f"tokenizer.vocab_size={vocab_size} is too small for {algorithm}: the special tokens and the characters"
            f" of the sample already take {size} ids; raise tokenizer.vocab_size to at least {size} (or lower"
            " tokenizer.character_coverage to keep fewer characters)"
        )
    if size != vocab_size:
        raise VocabularySizeError(
            f"{algorithm} produced {size} tokens instead of tokenizer.vocab_size={vocab_size}: the sample is too small"
            f" or too repetitive to reach that size; lower tokenizer.vocab_size to at most {size},"
            " lower tokenizer.min_frequency, or add text (tokenizer.sample_lines / corpus.sources)"
        )
    backend.post_processor = family.post_processor(vocab)
    return backend


def check_reachable(vocab_size: int, minimum: int, what: str) -> None:
    """Refuse a vocabulary size below ``minimum``: the ids ``what`` takes plus one learned token."""
    if vocab_size < minimum:
        raise VocabularySizeError(
            f"tokenizer.vocab_size={vocab_size} is too small: {what} already take {minimum - 1} ids;"
            f" raise tokenizer.vocab_size to at least {minimum}"
        )
