"""The deduplicate step of ``prepare``: which documents of a tokenized chunk are kept, and in which split.

A document is dropped when it is empty after cleaning (no kept line or no token) or, with dedup on, when
its content hash is in the table of earlier kept documents or at an earlier document of the same chunk.
A kept document goes to ``valid`` when its hash falls in ``validation_fraction`` (``validation_mask``),
else to ``train``. The marks are computed for the whole chunk with numpy; the table is only read here:
the hashes of kept documents enter it when the write step accounts for them (``Progress.account``), so
a state saved in the middle of a chunk holds exactly the documents before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.corpus.cleaning import validation_mask
from workbench.corpus.dedup import HashTable64
from workbench.corpus.tokenize_docs import ChunkResult


@dataclass
class MarkedChunk:
    """A tokenized chunk and, per document (position in the chunk), what the deduplicate step decided."""

    chunk: ChunkResult
    empty: np.ndarray  # bool [n] nothing left after cleaning and tokenizing
    duplicate: np.ndarray  # bool [n] not empty, but its content was kept before
    kept: np.ndarray  # bool [n] goes into the shards
    valid: np.ndarray  # bool [n] held out (meaningful where kept)
    doc_tokens: np.ndarray  # int64 [n] content tokens
    remember: bool  # the kept hashes enter the dedup table when accounted (dedup on)

    def __len__(self) -> int:
        return len(self.chunk)


def mark_documents(chunk: ChunkResult, seen: HashTable64, dedup: bool, validation_fraction: float) -> MarkedChunk:
    """The marks of ``chunk`` against the table ``seen`` of the documents kept before it (not changed)."""
    doc_tokens = chunk.doc_tokens()
    empty = (chunk.lines_kept == 0) | (doc_tokens == 0)
    if dedup:
        seen.settle()
        kept = seen.first_seen(chunk.hashes, ~empty)
        duplicate = ~empty & ~kept
    else:
        kept = ~empty
        duplicate = np.zeros(len(chunk), dtype=bool)
    valid = validation_mask(chunk.hashes, validation_fraction)
    return MarkedChunk(chunk, empty, duplicate, kept, valid, doc_tokens, dedup)
