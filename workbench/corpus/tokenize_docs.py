"""Per-document work done in worker processes: clean, hash, split into units, tokenize.

Every result depends on the document alone, so the output is identical
whatever the number of workers or the way documents are grouped in chunks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from workbench.corpus.cleaning import CleaningRules, clean_document, document_hash
from workbench.corpus.sentences import split_sentences
from workbench.corpus.word_cache import UnitEncoder
from workbench.tokenization.tokenizer import Tokenizer


@dataclass(frozen=True)
class WorkSettings:
    rules: CleaningRules
    sentence_units: bool  # split lines into sentences (sentence modes) or keep lines as units
    cache_entries: int = 1 << 17  # word cache cap of the encoder in each process


@dataclass(slots=True)
class DocResult:
    index: int  # position of the document in the input stream
    lang_id: int
    source_id: int
    doc_hash: Optional[int]  # None when no line survived cleaning
    tokens: np.ndarray  # int64 ids of the whole chunk (shared by its documents: pickled once)
    bounds: List[int]  # [n_units + 1] offsets of this document's units in ``tokens``
    lines_kept: int
    stats: Optional[Dict[str, int]]  # dropped lines by reason, undecodable lines; None when nothing to count

    @property
    def n_tokens(self) -> int:
        return self.bounds[-1] - self.bounds[0]


RawDoc = Tuple[int, str, int, int, int]  # (index, text, lang_id, source position, undecodable lines read)


def process_documents(docs: List[RawDoc], settings: WorkSettings, encoder: UnitEncoder) -> List[DocResult]:
    """Clean, split and tokenize a chunk of documents (one encoder call for the whole chunk)."""
    rules = settings.rules
    split = split_sentences if settings.sentence_units else None
    all_units: List[str] = []
    unit_counts: List[int] = []
    per_doc: List[Tuple[Optional[int], int, Optional[Dict[str, int]]]] = []
    for _index, text, _lang, _source, undecodable in docs:
        stats: Optional[Dict[str, int]] = {"undecodable_lines": undecodable} if undecodable else None
        lines = clean_document(text, rules, None, count=False)
        if lines is None:  # something was dropped: count it
            stats = stats or {}
            lines = clean_document(text, rules, stats, count=True)
        before = len(all_units)
        if split is None:
            all_units.extend(lines)
        else:
            for line in lines:
                all_units.extend(split(line))
        unit_counts.append(len(all_units) - before)
        per_doc.append((document_hash(lines) if lines else None, len(lines), stats))
    flat, bounds_array = encoder.encode(all_units)
    bounds = bounds_array.tolist()
    results: List[DocResult] = []
    first = 0
    for (index, _text, lang_id, source_id, _u), count, (doc_hash, lines_kept, stats) in zip(docs, unit_counts, per_doc):
        last = first + count
        results.append(DocResult(index, lang_id, source_id, doc_hash, flat, bounds[first : last + 1], lines_kept, stats))
        first = last
    return results


# --- worker-process side: the tokenizer and settings are sent once, at pool start -------------------------
_WORKER: Dict[str, object] = {}


def init_worker(settings: WorkSettings, tokenizer: Tokenizer) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core: no thread pool inside
    _WORKER["settings"] = settings
    _WORKER["encoder"] = UnitEncoder(tokenizer, settings.cache_entries)


def process_in_worker(docs: List[RawDoc]) -> List[DocResult]:
    return process_documents(docs, _WORKER["settings"], _WORKER["encoder"])  # type: ignore[arg-type]
