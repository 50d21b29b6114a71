"""The pack step of ``prepare``: kept documents into sequences, one packer per (split, language).

``SplitPackers.pack`` turns the stream of marked chunks into a stream of events for the write step:

- ``Sequences(split, lang, batch)``: sequences to append to the split's open shard, in the order the
  documents produced them (when languages alternate within a split, a packer's sequences are handed over
  before another packer's);
- ``Consumed(marked, start, end, part_full)``: documents ``start``..``end - 1`` of the chunk are packed and
  their sequences handed over; with ``part_full`` the document at ``end - 1`` filled a train or valid shard
  (``shard_tokens``), and the part closes there, exactly as if documents came one at a time (so a resumed
  run, whose chunks start elsewhere, writes the same bytes);
- ``InputEnd()``: the packers' last sequences were handed over; the last part closes.

Only the packing runs document by document. The packers' states are part of the resume state
(``Progress.commit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, Optional, Tuple, Union

import numpy as np

from workbench.corpus.config import PackingConfig
from workbench.corpus.deduplicate import MarkedChunk
from workbench.corpus.packing import PackedBatch, Packer, SpecialLayout, make_packer
from workbench.corpus.shards import SPLITS


@dataclass(frozen=True)
class Sequences:
    split: str
    lang: int
    batch: PackedBatch


@dataclass(frozen=True)
class Consumed:
    marked: MarkedChunk
    start: int
    end: int
    part_full: bool


@dataclass(frozen=True)
class InputEnd:
    pass


PackEvent = Union[Sequences, Consumed, InputEnd]


class SplitPackers:
    def __init__(self, packing: PackingConfig, layout: SpecialLayout, languages: int, seed: int) -> None:
        self.shard_tokens = packing.shard_tokens
        self.packers: Dict[Tuple[str, int], Packer] = {
            (split, lang): make_packer(packing.mode, layout, packing.max_seq_len, packing.short_seq_prob, seed, packing.random_next_pool)
            for split in SPLITS
            for lang in range(languages)
        }
        # tokens of each split's open shard, handed over or not (the part closes when one reaches shard_tokens)
        self.pending_tokens: Dict[str, int] = {split: 0 for split in SPLITS}
        # per split, the packer whose sequences were fed last and are not handed over yet
        self.emitters: Dict[str, Optional[Tuple[str, int]]] = {split: None for split in SPLITS}

    def _drain(self, key: Tuple[str, int]) -> Iterator[Sequences]:
        batch = self.packers[key].take()
        if len(batch):
            yield Sequences(key[0], key[1], batch)

    def _drain_all(self) -> Iterator[Sequences]:
        for split, key in self.emitters.items():
            if key is not None:
                yield from self._drain(key)
                self.emitters[split] = None

    def pack(self, marked_chunks: Iterable[MarkedChunk]) -> Iterator[PackEvent]:
        packers = self.packers
        emitters = self.emitters
        pending_tokens = self.pending_tokens
        shard_tokens = self.shard_tokens
        for marked in marked_chunks:
            n = len(marked)
            if n == 0:
                continue
            chunk = marked.chunk
            positions = np.flatnonzero(marked.kept)
            tokens = chunk.tokens
            bounds = chunk.unit_bounds.tolist()
            doc_units = chunk.doc_units.tolist()
            first_index = chunk.first_index
            done = 0
            for position, is_valid, lang in zip(positions.tolist(), marked.valid[positions].tolist(), chunk.lang_ids[positions].tolist()):
                split = "valid" if is_valid else "train"
                key = (split, lang)
                emitted = packers[key].feed_units(tokens, bounds, doc_units[position], doc_units[position + 1], first_index + position)
                if not emitted:
                    continue
                previous = emitters[split]
                if previous != key:  # another language packed into this split since: its sequences come first
                    if previous is not None:
                        yield from self._drain(previous)
                    emitters[split] = key
                pending_tokens[split] += emitted
                if pending_tokens[split] >= shard_tokens:  # only this split's shard grew
                    yield from self._drain_all()
                    yield Consumed(marked, done, position + 1, part_full=True)
                    done = position + 1
                    pending_tokens.update({s: 0 for s in SPLITS})  # the next part's shards are empty
            yield from self._drain_all()  # releases the chunk's arrays
            yield Consumed(marked, done, n, part_full=False)
        for (split, lang), packer in sorted(packers.items()):
            batch = PackedBatch.from_packed(packer.finish())
            if len(batch):
                yield Sequences(split, lang, batch)
        yield InputEnd()
