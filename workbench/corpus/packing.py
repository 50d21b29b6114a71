"""Packing tokenized documents into training sequences (pure, deterministic).

A document arrives as ``DocTokens``: its token ids (no special tokens) and the
offsets of its units (sentences or lines) in that array. Each packer turns a
stream of documents into sequences that already carry the family's special
tokens, so the trainer only pads:

- ``full_sentences`` (RoBERTa FULL-SENTENCES): whole sentences packed
  contiguously up to ``max_seq_len``, crossing document boundaries, with an
  extra separator token between documents.
- ``doc_sentences`` (RoBERTa DOC-SENTENCES): the same, never crossing a document.
- ``line_by_line``: one line per sequence (a line longer than a sequence is cut
  into consecutive pieces, never truncated away).
- ``sentence_pairs`` (BERT, ``create_instances_from_document``): segment A and B
  made of whole sentences, B the true continuation half of the time and a
  random segment from another document otherwise; with ``short_seq_prob`` the
  target length is drawn uniformly in [2, max].
- ``stream`` (XLM/FlauBERT): every line followed by the separator, concatenated
  into one stream that starts with a separator, cut into fixed windows of
  ``max_seq_len`` tokens (the last window may be shorter). XLM stores windows
  this way: the separators are the only special tokens.

Randomness (sentence_pairs) comes from a ``numpy.random.Generator`` seeded by
(seed, document index), so the output never depends on batching or workers.
Packers are resumable: ``state()`` returns plain data that ``restore()`` takes.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np

SENTENCE_MODES = ("full_sentences", "doc_sentences", "sentence_pairs")  # units are sentences; others use lines


@dataclass(slots=True)
class DocTokens:
    index: int  # position of the document in the input stream (seeds its randomness)
    tokens: np.ndarray  # int64 ids; the document is tokens[bounds[0]:bounds[-1]] (may be a shared chunk array)
    bounds: Sequence[int]  # [n_units + 1] offsets of the units in ``tokens`` (list or int64 array)


@dataclass(slots=True)
class Packed:
    ids: np.ndarray  # int64, with special tokens
    segment_start: int = -1  # sentence_pairs: index of the first token of segment B's type region
    is_random_next: int = -1  # sentence_pairs: 1 when B is a random segment, 0 when it is the true next


@dataclass(slots=True)
class PackedBatch:
    """Consecutive packed sequences as one array: what a shard writer appends in one call."""

    ids: np.ndarray  # the sequences one after the other, special tokens included
    lengths: np.ndarray  # int64 [n] tokens per sequence
    segment_starts: Optional[np.ndarray] = None  # sentence_pairs: Packed.segment_start per sequence
    is_random_next: Optional[np.ndarray] = None  # sentence_pairs: Packed.is_random_next per sequence

    def __len__(self) -> int:
        return len(self.lengths)

    @classmethod
    def from_packed(cls, packed: Sequence[Packed]) -> "PackedBatch":
        if not packed:
            return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        return cls(
            np.concatenate([p.ids for p in packed]),
            np.fromiter((len(p.ids) for p in packed), dtype=np.int64, count=len(packed)),
            np.fromiter((p.segment_start for p in packed), dtype=np.int64, count=len(packed)),
            np.fromiter((p.is_random_next for p in packed), dtype=np.int64, count=len(packed)),
        )

    def to_packed(self) -> List[Packed]:
        ends = np.cumsum(self.lengths).tolist()
        starts = [0] + ends[:-1]
        if self.segment_starts is None or self.is_random_next is None:
            return [Packed(self.ids[a:b]) for a, b in zip(starts, ends)]
        return [
            Packed(self.ids[a:b], int(s), int(r))
            for a, b, s, r in zip(starts, ends, self.segment_starts.tolist(), self.is_random_next.tolist())
        ]


@dataclass(frozen=True)
class SpecialLayout:
    """The family's special tokens around one or two segments (same ids as ``Tokenizer.build_inputs``)."""

    cls_id: int
    sep_id: int
    family: str  # bert, roberta or flaubert

    @property
    def pair_overhead(self) -> int:
        return 4 if self.family == "roberta" else 3

    @property
    def uses_token_types(self) -> bool:
        return self.family == "bert"

    def single(self, content: np.ndarray) -> np.ndarray:
        out = np.empty(len(content) + 2, dtype=np.int64)
        out[0] = self.cls_id
        out[1:-1] = content
        out[-1] = self.sep_id
        return out

    def pair(self, first: np.ndarray, second: np.ndarray) -> Tuple[np.ndarray, int]:
        """(ids, index where token type 1 starts); for roberta/flaubert the types are all 0 anyway."""
        middle = [self.sep_id, self.sep_id] if self.family == "roberta" else [self.sep_id]
        ids = np.concatenate(([self.cls_id], first, middle, second, [self.sep_id])).astype(np.int64)
        return ids, 1 + len(first) + 1


def seeded_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([seed & 0xFFFFFFFF, seed >> 32, index & 0xFFFFFFFF, index >> 32]))


class Packer:
    """Base: feed documents, collect sequences; ``finish`` flushes what is pending."""

    def __init__(self, layout: SpecialLayout, max_seq_len: int) -> None:
        self.layout = layout
        self.max_seq_len = max_seq_len
        self.stats: Counter = Counter()
        self._buffer: List[Packed] = []
        self._buffered_tokens = 0

    def feed(self, doc: DocTokens) -> List[Packed]:  # pragma: no cover - interface
        raise NotImplementedError

    def feed_units(self, tokens: np.ndarray, bounds: List[int], first_unit: int, end_unit: int, index: int) -> int:
        """Feed the document made of units ``first_unit``..``end_unit - 1`` of a chunk (``tokens``, unit
        offsets ``bounds``) and keep its sequences until ``take``; returns the tokens they hold. Same
        sequences as ``feed`` (the chunk pipeline of ``prepare`` uses this, without per-sequence objects
        where a packer overrides it)."""
        packed = self.feed(DocTokens(index, tokens, bounds[first_unit : end_unit + 1]))
        if not packed:
            return 0
        self._buffer.extend(packed)
        emitted = sum(len(p.ids) for p in packed)
        self._buffered_tokens += emitted
        return emitted

    @property
    def buffered_tokens(self) -> int:
        """Tokens of the sequences fed through ``feed_units`` and not taken yet."""
        return self._buffered_tokens

    def take(self) -> PackedBatch:
        """The sequences kept by ``feed_units`` since the last call, in order."""
        batch = PackedBatch.from_packed(self._buffer)
        self._buffer = []
        self._buffered_tokens = 0
        return batch

    def finish(self) -> List[Packed]:
        return []

    def state(self) -> Dict:
        return {"stats": dict(self.stats)}

    def restore(self, state: Dict) -> None:
        self.stats = Counter(state["stats"])


class SentencePacker(Packer):
    """full_sentences (cross_documents) and doc_sentences."""

    def __init__(self, layout: SpecialLayout, max_seq_len: int, cross_documents: bool) -> None:
        super().__init__(layout, max_seq_len)
        self.capacity = max_seq_len - 2
        self.cross_documents = cross_documents
        self._cls = np.array([layout.cls_id], dtype=np.int64)
        self._sep = np.array([layout.sep_id], dtype=np.int64)
        self.pending: List[np.ndarray] = []  # pieces of the open sequence (content and separators)
        self.pending_len = 0
        # finished sequences not taken yet: their pieces ([CLS], content..., [SEP]) and lengths
        self._out: List[np.ndarray] = []
        self._out_lengths: List[int] = []

    def _flush(self) -> None:
        if self.pending_len:
            out = self._out
            out.append(self._cls)
            out += self.pending
            out.append(self._sep)
            self._out_lengths.append(self.pending_len + 2)
            self._buffered_tokens += self.pending_len + 2
        self.pending = []
        self.pending_len = 0

    def _add(self, piece: np.ndarray) -> None:
        self.pending.append(piece)
        self.pending_len += len(piece)

    def feed_units(self, tokens: np.ndarray, bounds: List[int], first_unit: int, end_unit: int, index: int) -> int:
        before = self._buffered_tokens
        capacity = self.capacity
        doc_start, doc_end = bounds[first_unit], bounds[end_unit]
        if doc_end - doc_start + (self.pending_len + 1 if self.pending_len else 0) <= capacity:
            # the whole document joins the open sequence: what the loop below does when no sentence
            # needs a new sequence (one separator first when the sequence is not empty)
            if doc_end > doc_start:
                pending = self.pending
                if self.pending_len:
                    pending.append(self._sep)
                    self.pending_len += 1
                pending.append(tokens[doc_start:doc_end])
                self.pending_len += doc_end - doc_start
        else:
            first = True
            # consecutive sentences of this document that go to the same sequence are one slice [open_start, open_end)
            open_start = open_end = -1
            for u in range(first_unit, end_unit):
                start, end = bounds[u], bounds[u + 1]
                length = end - start
                if length == 0:
                    continue
                pending = self.pending_len + (open_end - open_start if open_start >= 0 else 0)
                need = length + (1 if first and pending else 0)  # separator before a new document
                if pending + need > capacity:
                    if open_start >= 0:
                        self._add(tokens[open_start:open_end])
                        open_start = -1
                    self._flush()
                    pending = 0
                if first and pending:
                    self._add(self._sep)
                first = False
                if length > capacity:  # a sentence longer than a sequence: consecutive full pieces
                    self.stats["sentences_split"] += 1
                    while end - start > capacity:
                        self._add(tokens[start : start + capacity])
                        self._flush()
                        start += capacity
                if open_start < 0:
                    open_start = start
                open_end = end
            if open_start >= 0:
                self._add(tokens[open_start:open_end])
        if not self.cross_documents:
            self._flush()
        return self._buffered_tokens - before

    def feed(self, doc: DocTokens) -> List[Packed]:
        bounds = doc.bounds.tolist() if isinstance(doc.bounds, np.ndarray) else list(doc.bounds)
        self.feed_units(doc.tokens, bounds, 0, len(bounds) - 1, doc.index)
        return self.take().to_packed()

    def take(self) -> PackedBatch:
        if not self._out_lengths:
            return PackedBatch(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        batch = PackedBatch(np.concatenate(self._out), np.array(self._out_lengths, dtype=np.int64))
        self._out = []
        self._out_lengths = []
        self._buffered_tokens = 0
        return batch

    def finish(self) -> List[Packed]:
        self._flush()
        return self.take().to_packed()

    def state(self) -> Dict:
        pending = np.concatenate(self.pending) if self.pending else np.zeros(0, dtype=np.int64)
        return {"stats": dict(self.stats), "pending": pending}

    def restore(self, state: Dict) -> None:
        super().restore(state)
        pending = np.asarray(state["pending"], dtype=np.int64)
        self.pending = [pending] if len(pending) else []
        self.pending_len = len(pending)


class LinePacker(Packer):
    """line_by_line: each unit alone; long units cut into consecutive pieces."""

    def feed(self, doc: DocTokens) -> List[Packed]:
        out: List[Packed] = []
        capacity = self.max_seq_len - 2
        for u in range(len(doc.bounds) - 1):
            start, end = int(doc.bounds[u]), int(doc.bounds[u + 1])
            if end - start > capacity:
                self.stats["lines_split"] += 1
            while start < end:
                out.append(Packed(self.layout.single(doc.tokens[start : min(end, start + capacity)])))
                start += capacity
        return out


class StreamPacker(Packer):
    """stream: </s> s1 </s> s2 </s> ... cut into windows of exactly max_seq_len tokens."""

    def __init__(self, layout: SpecialLayout, max_seq_len: int) -> None:
        super().__init__(layout, max_seq_len)
        self.pending = np.array([layout.sep_id], dtype=np.int64)

    def feed(self, doc: DocTokens) -> List[Packed]:
        pieces = [self.pending]
        n_units = len(doc.bounds) - 1
        if n_units:
            # insert a separator after every unit: vectorised with np.insert at the unit ends
            first, last = int(doc.bounds[0]), int(doc.bounds[-1])
            ends = np.asarray(doc.bounds[1:], dtype=np.int64) - first
            pieces.append(np.insert(np.asarray(doc.tokens[first:last], dtype=np.int64), ends, self.layout.sep_id))
        stream = np.concatenate(pieces)
        n_full = len(stream) // self.max_seq_len
        out = [Packed(stream[i * self.max_seq_len : (i + 1) * self.max_seq_len].copy()) for i in range(n_full)]
        self.pending = stream[n_full * self.max_seq_len :].copy()
        return out

    def finish(self) -> List[Packed]:
        out = [Packed(self.pending)] if len(self.pending) > 1 else []
        self.pending = np.zeros(0, dtype=np.int64)
        return out

    def state(self) -> Dict:
        return {"stats": dict(self.stats), "pending": self.pending}

    def restore(self, state: Dict) -> None:
        super().restore(state)
        self.pending = np.asarray(state["pending"], dtype=np.int64)


class SentencePairPacker(Packer):
    """sentence_pairs: BERT's create_instances_from_document with a bounded pool for random segments.

    BERT draws the random segment from any other document of the (in-memory)
    corpus; a stream cannot, so it is drawn from a pool of the most recent
    documents (at most ``pool_sentences`` sentences): a document chosen
    uniformly, then a start sentence chosen uniformly, exactly as BERT does.
    """

    def __init__(self, layout: SpecialLayout, max_seq_len: int, short_seq_prob: float, seed: int, pool_sentences: int) -> None:
        super().__init__(layout, max_seq_len)
        self.max_num_tokens = max_seq_len - layout.pair_overhead
        self.short_seq_prob = short_seq_prob
        self.seed = seed
        self.pool_sentences = pool_sentences
        self.pool: Deque[List[np.ndarray]] = deque()
        self.pool_size = 0

    def _remember(self, sentences: List[np.ndarray]) -> None:
        sentences = sentences[: self.pool_sentences]
        if not sentences:
            return
        self.pool.append(sentences)
        self.pool_size += len(sentences)
        while self.pool_size > self.pool_sentences:
            self.pool_size -= len(self.pool.popleft())

    def _random_segment(self, rng: np.random.Generator, target_length: int) -> Optional[np.ndarray]:
        if not self.pool:
            return None
        document = self.pool[int(rng.integers(len(self.pool)))]
        start = int(rng.integers(len(document)))
        taken: List[np.ndarray] = []
        length = 0
        for sentence in document[start:]:
            taken.append(sentence)
            length += len(sentence)
            if length >= target_length:
                break
        return np.concatenate(taken)

    def _truncate(self, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        a_lo, a_hi, b_lo, b_hi = 0, len(a), 0, len(b)
        while (a_hi - a_lo) + (b_hi - b_lo) > self.max_num_tokens:
            front = rng.random() < 0.5
            if (a_hi - a_lo) > (b_hi - b_lo):
                if front:
                    a_lo += 1
                else:
                    a_hi -= 1
            else:
                if front:
                    b_lo += 1
                else:
                    b_hi -= 1
        return a[a_lo:a_hi], b[b_lo:b_hi]

    def feed(self, doc: DocTokens) -> List[Packed]:
        rng = seeded_rng(self.seed, doc.index)
        sentences = [doc.tokens[int(doc.bounds[u]) : int(doc.bounds[u + 1])] for u in range(len(doc.bounds) - 1)]
        sentences = [s for s in sentences if len(s)]
        out: List[Packed] = []
        target_seq_length = self.max_num_tokens
        if rng.random() < self.short_seq_prob:
            target_seq_length = int(rng.integers(2, self.max_num_tokens + 1))
        chunk: List[np.ndarray] = []
        chunk_length = 0
        i = 0
        while i < len(sentences):
            chunk.append(sentences[i])
            chunk_length += len(sentences[i])
            if i == len(sentences) - 1 or chunk_length >= target_seq_length:
                a_end = 1
                if len(chunk) >= 2:
                    a_end = int(rng.integers(1, len(chunk)))
                tokens_a = np.concatenate(chunk[:a_end])
                if len(chunk) == 1 or rng.random() < 0.5:
                    is_random_next = 1
                    tokens_b = self._random_segment(rng, max(1, target_seq_length - len(tokens_a)))
                    i -= len(chunk) - a_end  # put the unused sentences back
                else:
                    is_random_next = 0
                    tokens_b = np.concatenate(chunk[a_end:])
                if tokens_b is None:
                    self.stats["pairs_without_random_segment"] += 1  # only before the pool has any document
                else:
                    tokens_a, tokens_b = self._truncate(tokens_a, tokens_b, rng)
                    if len(tokens_a) and len(tokens_b):
                        ids, segment_start = self.layout.pair(tokens_a, tokens_b)
                        out.append(Packed(ids, segment_start, is_random_next))
                chunk = []
                chunk_length = 0
            i += 1
        self._remember(sentences)
        return out

    def state(self) -> Dict:
        return {"stats": dict(self.stats), "pool": [list(d) for d in self.pool]}

    def restore(self, state: Dict) -> None:
        super().restore(state)
        self.pool = deque()
        self.pool_size = 0
        for document in state["pool"]:
            self._remember([np.asarray(s, dtype=np.int64) for s in document])


def make_packer(mode: str, layout: SpecialLayout, max_seq_len: int, short_seq_prob: float, seed: int, pool_sentences: int) -> Packer:
    if mode == "full_sentences":
        return SentencePacker(layout, max_seq_len, cross_documents=True)
    if mode == "doc_sentences":
        return SentencePacker(layout, max_seq_len, cross_documents=False)
    if mode == "line_by_line":
        return LinePacker(layout, max_seq_len)
    if mode == "stream":
        return StreamPacker(layout, max_seq_len)
    if mode == "sentence_pairs":
        return SentencePairPacker(layout, max_seq_len, short_seq_prob, seed, pool_sentences)
    raise ValueError(f"unknown packing mode {mode!r}")
