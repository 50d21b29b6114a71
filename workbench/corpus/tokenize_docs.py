"""The steps of ``prepare`` that run in worker processes, a chunk at a time: clean (and hash), tokenize.

Every per-document result depends on the document alone, so the output is
identical whatever the number of workers or the way documents are grouped in
chunks. A chunk's results travel as a few flat arrays (``ChunkResult``), not
as one object per document: sending them between processes costs a few copies
of the token ids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import chain, compress, repeat
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from workbench.corpus.cleaning import DROP_REASONS, KEPT, CleaningRules, clean_lines, line_codes, text_hashes
from workbench.corpus.sentences import LINE_SEPARATOR, sentence_starts
from workbench.corpus.word_cache import LearnedWords, UnitEncoder
from workbench.text.codepoints import code_points
from workbench.tokenization.tokenizer import Tokenizer


@dataclass(frozen=True)
class WorkSettings:
    rules: CleaningRules
    sentence_units: bool  # split lines into sentences (sentence modes) or keep lines as units
    cache_entries: int = 1 << 18  # word cache cap of the encoder in each process


@dataclass
class ChunkResult:
    """The documents ``first_index``, ``first_index + 1``, ... of the input stream, cleaned and tokenized.

    Document ``i`` (its position in the chunk) is made of units ``doc_units[i]`` to ``doc_units[i + 1] - 1``;
    unit ``u`` is ``tokens[unit_bounds[u]:unit_bounds[u + 1]]``. A document with ``lines_kept[i] == 0``
    had no line left after cleaning (its hash is 0 and means nothing).
    """

    first_index: int
    lang_ids: np.ndarray  # int64 [n]
    source_ids: np.ndarray  # int64 [n] position of the document's source in the corpus config
    hashes: np.ndarray  # uint64 [n] content hash of the cleaned document (dedup identity, train/valid split)
    lines_kept: np.ndarray  # int64 [n]
    doc_units: np.ndarray  # int64 [n + 1]
    unit_bounds: np.ndarray  # int64 [n_units + 1]
    tokens: np.ndarray  # int64 ids of all units, no special tokens
    stats: Dict[int, Dict[str, int]]  # position -> dropped lines by reason and undecodable lines (rare)

    def __len__(self) -> int:
        return len(self.hashes)

    def doc_tokens(self) -> np.ndarray:
        """Tokens per document."""
        return self.unit_bounds[self.doc_units[1:]] - self.unit_bounds[self.doc_units[:-1]]


LINE_JOIN = "\n"  # a document's kept lines joined for its hash (``document_hash``)
RawDoc = Tuple[int, str, int, int, int]  # (index, text, lang_id, source position, undecodable lines read)


@dataclass
class RawChunk:
    """The raw documents ``first_index``, ``first_index + 1``, ... of the input stream: what a worker gets."""

    first_index: int
    texts: List[str]
    lang_ids: np.ndarray  # int64 per document
    source_ids: np.ndarray  # int64 per document: position of its source in the corpus config
    undecodable: np.ndarray  # int64 per document: lines read with bytes that are not UTF-8

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self) -> Iterator[RawDoc]:
        """The documents as ``RawDoc`` tuples."""
        return zip(
            range(self.first_index, self.first_index + len(self.texts)),
            self.texts,
            self.lang_ids.tolist(),
            self.source_ids.tolist(),
            self.undecodable.tolist(),
        )

    @classmethod
    def of(cls, docs: List[RawDoc]) -> "RawChunk":
        """A chunk of consecutive ``RawDoc`` tuples."""
        return cls(
            docs[0][0] if docs else 0,
            [doc[1] for doc in docs],
            np.array([doc[2] for doc in docs], dtype=np.int64),
            np.array([doc[3] for doc in docs], dtype=np.int64),
            np.array([doc[4] for doc in docs], dtype=np.int64),
        )


def _line_codes_of(docs: RawChunk, rules: CleaningRules) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """(cleaned lines of all documents in order, their codes (``line_codes``), document of each line)."""
    texts = docs.texts
    if any(map(str.__contains__, texts, repeat("\n"))):
        per_doc = [text.split("\n") for text in texts]
        raw = list(chain.from_iterable(per_doc))
        line_doc = np.repeat(np.arange(len(docs)), np.fromiter(map(len, per_doc), dtype=np.int64, count=len(docs)))
    else:  # one line per document (document_boundary=line)
        raw = texts
        line_doc = np.arange(len(docs))
    cleaned = clean_lines(raw, rules.normalization)
    return cleaned, line_codes(cleaned, raw, rules), line_doc


def _drop_stats(docs: RawChunk, codes: np.ndarray, line_doc: np.ndarray) -> Dict[int, Dict[str, int]]:
    stats: Dict[int, Dict[str, int]] = {}
    undecodable = docs.undecodable
    for position in np.flatnonzero(undecodable).tolist():
        stats[position] = {"undecodable_lines": int(undecodable[position])}
    for line in np.flatnonzero(codes > KEPT).tolist():
        counted = stats.setdefault(int(line_doc[line]), {})
        reason = DROP_REASONS[int(codes[line]) - 1]
        counted[reason] = counted.get(reason, 0) + 1
    return stats


@dataclass
class CleanChunk:
    """The documents of a ``RawChunk`` after the clean step: their kept lines and what was dropped."""

    first_index: int
    lang_ids: np.ndarray  # int64 [n]
    source_ids: np.ndarray  # int64 [n]
    lines: List[str]  # the kept cleaned lines of all documents, in order
    line_doc: np.ndarray  # int64 [len(lines)] position of the document of each kept line
    lines_kept: np.ndarray  # int64 [n] kept lines per document
    hashes: np.ndarray  # uint64 [n] content hash of each cleaned document (0 when no line is kept)
    stats: Dict[int, Dict[str, int]]  # position -> dropped lines by reason and undecodable lines (rare)

    def __len__(self) -> int:
        return len(self.hashes)


def clean_chunk(docs: RawChunk | List[RawDoc], rules: CleaningRules) -> CleanChunk:
    """The clean step: clean every line, drop (and count by reason) the lines ``rules`` refuse, hash the
    documents' kept lines. Whole-chunk C-level scans; same results as ``clean_document`` and
    ``document_hash`` document by document (tested)."""
    if not isinstance(docs, RawChunk):
        docs = RawChunk.of(docs)
    n = len(docs)
    cleaned, codes, line_doc = _line_codes_of(docs, rules)
    stats = _drop_stats(docs, codes, line_doc)
    kept = codes == KEPT
    lines = list(compress(cleaned, kept.tolist()))
    kept_doc = line_doc[kept]
    lines_kept = np.bincount(kept_doc, minlength=n).astype(np.int64)
    hashes = np.zeros(n, dtype=np.uint64)
    if lines:
        if lines_kept.max() == 1:
            doc_texts: List[str] = lines
        else:
            ends = np.cumsum(lines_kept)
            doc_texts = [LINE_JOIN.join(lines[e - k : e]) for e, k in zip(ends.tolist(), lines_kept.tolist()) if k]
        hashes[lines_kept > 0] = text_hashes(doc_texts)
    return CleanChunk(docs.first_index, docs.lang_ids, docs.source_ids, lines, kept_doc, lines_kept, hashes, stats)


def tokenize_chunk(clean: CleanChunk, sentence_units: bool, encoder: UnitEncoder) -> ChunkResult:
    """The tokenize step: split the kept lines into units (sentences when ``sentence_units``, else lines)
    and encode them. The kept lines are joined into one text (``LINE_SEPARATOR`` between lines) for the
    sentence search and the word split, and one encoder call tokenizes the chunk; same ids as
    ``split_sentences`` and ``Tokenizer.encode_batch`` unit by unit (tested)."""
    n = len(clean)
    tokens, unit_bounds, units_per_line = _tokenize_lines(clean.lines, sentence_units, encoder)
    units_per_doc = np.zeros(n, dtype=np.int64)
    np.add.at(units_per_doc, clean.line_doc, units_per_line)
    doc_units = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(units_per_doc, out=doc_units[1:])
    return ChunkResult(
        first_index=clean.first_index,
        lang_ids=clean.lang_ids,
        source_ids=clean.source_ids,
        hashes=clean.hashes,
        lines_kept=clean.lines_kept,
        doc_units=doc_units,
        unit_bounds=unit_bounds,
        tokens=tokens,
        stats=clean.stats,
    )


WORKER_STEPS = ("clean", "tokenize")  # what ``process_chunk`` runs on a chunk, in this order


def process_chunk(docs: RawChunk | List[RawDoc], settings: WorkSettings, encoder: UnitEncoder) -> ChunkResult:
    """The steps a worker runs on a chunk of consecutive documents: ``clean_chunk`` then ``tokenize_chunk``.

    Per document there is no Python-level work beyond the hash of its text. Same results as cleaning,
    splitting and encoding document by document (``clean_document``, ``split_sentences``,
    ``Tokenizer.encode_batch``; tested).
    """
    return tokenize_chunk(clean_chunk(docs, settings.rules), settings.sentence_units, encoder)


def _tokenize_lines(lines: List[str], sentence_units: bool, encoder: UnitEncoder) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, unit offsets in the ids, units per line) of cleaned lines; a unit is a sentence or a line."""
    if not lines:
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    text = LINE_SEPARATOR.join(lines)
    line_start = np.zeros(len(lines), dtype=np.int64)  # character position of each line in ``text``
    np.cumsum(np.fromiter(map(len, lines[:-1]), dtype=np.int64, count=len(lines) - 1) + 1, out=line_start[1:])
    codepoints = code_points(text)
    unit_start = line_start
    if sentence_units:
        cuts = sentence_starts(text, codepoints)
        if cuts:
            unit_start = np.sort(np.concatenate((line_start, np.asarray(cuts, dtype=np.int64))))
    units_per_line = np.diff(np.append(np.searchsorted(unit_start, line_start), len(unit_start)))
    if encoder.cached:
        # words: the text split at spaces and line separators; a unit starts at the word whose first
        # character is at its position (the number of separators before it)
        separators = np.flatnonzero((codepoints == 32) | (codepoints == 0))
        tokens, word_lengths = encoder.encode_text(text, codepoints, separators)
        unit_lengths = np.add.reduceat(word_lengths, np.searchsorted(separators, unit_start))
        unit_bounds = np.zeros(len(unit_start) + 1, dtype=np.int64)
        np.cumsum(unit_lengths, out=unit_bounds[1:])
    else:
        unit_end = np.append(unit_start[1:] - 1, len(text))  # a unit ends before the space or separator
        units = [text[a:b] for a, b in zip(unit_start.tolist(), unit_end.tolist())]
        tokens, unit_bounds = encoder.encode(units)
    return tokens, unit_bounds, units_per_line


# --- worker-process side: the tokenizer and settings are sent once, at pool start -------------------------
_WORKER: Dict[str, object] = {}


def init_worker(settings: WorkSettings, tokenizer: Tokenizer) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core: no thread pool inside
    _WORKER["settings"] = settings
    _WORKER["encoder"] = UnitEncoder(tokenizer, settings.cache_entries, share=True)


def process_in_worker(docs: RawChunk, taught: Optional[LearnedWords] = None) -> Tuple[ChunkResult, LearnedWords]:
    """``process_chunk`` in a helper process: first caches the words another process encoded (``taught``),
    returns the chunk's results and the words this process encoded for them (to teach the others)."""
    encoder: UnitEncoder = _WORKER["encoder"]  # type: ignore[assignment]
    if taught is not None:
        encoder.teach(taught)
    result = process_chunk(docs, _WORKER["settings"], encoder)  # type: ignore[arg-type]
    return result, encoder.learned()
