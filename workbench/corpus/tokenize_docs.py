"""Per-document work done in worker processes: clean, hash, split into units, tokenize.

Every result depends on the document alone, so the output is identical
whatever the number of workers or the way documents are grouped in chunks.
"""

from __future__ import annotations

import os
from collections import Counter
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


@dataclass
class DocResult:
    index: int  # position of the document in the input stream
    lang_id: int
    source_id: int
    doc_hash: Optional[int]  # None when no line survived cleaning
    tokens: np.ndarray  # int64 ids of all units
    bounds: np.ndarray  # int64 [n_units + 1]
    stats: Dict[str, int]  # dropped lines by reason and other per-document counts


RawDoc = Tuple[int, str, int, int, int]  # (index, text, lang_id, source position, undecodable lines read)


def process_documents(docs: List[RawDoc], settings: WorkSettings, encoder: UnitEncoder) -> List[DocResult]:
    """Clean, split and tokenize a chunk of documents (one encoder call for the whole chunk)."""
    per_doc_units: List[List[str]] = []
    per_doc_stats: List[Counter] = []
    hashes: List[Optional[int]] = []
    for _index, text, _lang, _source, undecodable in docs:
        stats: Counter = Counter()
        if undecodable:
            stats["undecodable_lines"] = undecodable
        lines = clean_document(text, settings.rules, stats)
        stats["lines_kept"] += len(lines)
        if settings.sentence_units:
            units = [sentence for line in lines for sentence in split_sentences(line)]
        else:
            units = lines
        per_doc_units.append(units)
        per_doc_stats.append(stats)
        hashes.append(document_hash(lines) if lines else None)
    flat, bounds = encoder.encode([unit for units in per_doc_units for unit in units])
    results: List[DocResult] = []
    first = 0
    for (index, _text, lang_id, source_id, _u), units, stats, doc_hash in zip(docs, per_doc_units, per_doc_stats, hashes):
        last = first + len(units)
        start, end = int(bounds[first]), int(bounds[last])
        results.append(DocResult(index, lang_id, source_id, doc_hash, flat[start:end].copy(), bounds[first : last + 1] - start, dict(stats)))
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
