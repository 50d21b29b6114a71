"""Exact fast encoding of cleaned text through a per-process cache of word encodings.

For pipelines whose pre-tokenizer drops whitespace and treats every
whitespace-separated word on its own (BERT's pre-tokenizer, Whitespace,
WhitespaceSplit, SentencePiece's Metaspace with ``prepend_scheme=always`` and
``split=true``) and whose normalizer acts within words, the ids of a text whose
words are separated by single spaces are the concatenation of the ids of its
words. Natural text repeats words (Zipf), so each distinct word is encoded once
by ``Tokenizer.encode_batch`` and the rest is table lookups done with numpy over
a whole chunk (hashes of code points, checked character by character, see
``UnitEncoder``); prepare's processes hand each other the words they encode
(``learned``/``teach``). Any other
pipeline (byte-level BPE, Moses, unknown components) goes through
``Tokenizer.encode_batch`` unit by unit. Either way the ids are the ones
``Tokenizer.encode_batch`` gives (tested on real text for each pipeline kind).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from workbench.corpus.word_hashing import HashIndex, word_hashes
from workbench.text.codepoints import code_points
from workbench.text.normalize import WHITESPACE_RUN
from workbench.tokenization.tokenizer import Tokenizer

WORD_LOCAL_NORMALIZERS = {"NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "Strip", "BertNormalizer", "Nmt"}
WORDS_PER_TEXT = 64  # distinct words encoded together (one text of the batch sent to the backend)
WORD_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}


# Patterns that replace whitespace (runs) by one space: words split on " " normalize to the same words. The last
# is workbench's own (``WHITESPACE_RUN``: runs of 2+ or any whitespace but " ", the same result as \s+).
WHITESPACE_PATTERNS = (r"\s+", r"\s", WHITESPACE_RUN)


def _regex_is_word_local(pattern: str, content: str) -> bool:
    """A Replace step that can neither match across a space nor introduce one (or that maps whitespace to " ")."""
    if pattern in WHITESPACE_PATTERNS:
        return content == " "
    if " " in content:
        return False
    class_match = re.fullmatch(r"\[([^\]]*)\]\+?", pattern)
    if class_match is None:
        return len(pattern) == 1 and not pattern.isspace()
    body = class_match.group(1)
    if body.startswith("^") or "\\s" in body or " " in body:
        return False
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    return compiled.search(" \t\n\u00a0") is None


def _normalizer_ok(node) -> bool:
    if node is None:
        return True
    kind = node.get("type")
    if kind == "Sequence":
        return all(_normalizer_ok(child) for child in node.get("normalizers", []))
    if kind == "Replace":
        pattern = node.get("pattern", {})
        text = pattern.get("Regex", pattern.get("String"))
        if text is None:
            return False
        if "String" in pattern:
            return " " not in text and " " not in node.get("content", "")
        return _regex_is_word_local(text, node.get("content", ""))
    return kind in WORD_LOCAL_NORMALIZERS


def _pre_tokenizer_ok(node) -> bool:
    if node is None:
        return False  # no pre-tokenizer: the model sees the whole text, spaces included
    kind = node.get("type")
    if kind == "Sequence":
        children = node.get("pretokenizers", [])
        # whitespace must be dropped by the first step; later steps only split within words
        return bool(children) and _pre_tokenizer_ok(children[0]) and all(
            child.get("type") in WORD_PRE_TOKENIZERS | {"Punctuation", "Digits", "UnicodeScripts"} for child in children[1:]
        )
    if kind == "Metaspace":
        return node.get("prepend_scheme") == "always" and bool(node.get("split", True))
    return kind in WORD_PRE_TOKENIZERS


def word_decomposable(tokenizer: Tokenizer) -> bool:
    """Whether ids(text) == concat(ids(word) for word in text.split(" ")) for cleaned text."""
    if getattr(tokenizer, "pre_tokenizer", None) is not None:  # Python-side pre-tokenization (Moses)
        return False
    pipeline = json.loads(tokenizer.backend.to_str())
    for added in pipeline.get("added_tokens", []):
        if " " in added["content"]:
            return False
    return _normalizer_ok(pipeline.get("normalizer")) and _pre_tokenizer_ok(pipeline.get("pre_tokenizer"))


class _Growable:
    """A 1-D array appended to in amortised O(1) (capacity doubles): no copy of the whole array per append."""

    def __init__(self, dtype=np.int64) -> None:
        self._data = np.zeros(1024, dtype=dtype)
        self.size = 0

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.size]

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.zeros(max(end, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = values
        self.size = end

    def replace(self, values: np.ndarray) -> None:
        self.size = 0
        self.append(values)


@dataclass
class LearnedWords:
    """Words a process encoded, sent to the other processes of ``prepare`` so that each distinct word goes
    through the tokenizer about once in the whole pool (a cache never changes ids, only saves work)."""

    hashes: np.ndarray  # uint64 [k]
    char_lengths: np.ndarray  # int64 [k]
    chars: np.ndarray  # uint32: the code points of the words, each followed by a 0
    lengths: np.ndarray  # int64 [k] ids per word
    ids: np.ndarray  # int64: the ids of the words, one after the other

    def __len__(self) -> int:
        return len(self.hashes)

    @classmethod
    def join(cls, parts: List["LearnedWords"]) -> "LearnedWords":
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return cls(np.zeros(0, dtype=np.uint64), empty, np.zeros(0, dtype=np.uint32), empty, empty)
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("hashes", "char_lengths", "chars", "lengths", "ids")))


_KEEP_COUNTING = 1 << 22  # entries of the reused 0, 1, 2, ... array at most (32 MiB)
_COUNTING = np.zeros(0, dtype=np.int64)  # 0, 1, 2, ...: reused by ``_segments`` (chunk-sized)


def _segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ranges [starts[i], starts[i] + lengths[i]) as one index array."""
    global _COUNTING
    total = int(lengths.sum())
    out = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    if len(_COUNTING) < total <= _KEEP_COUNTING:
        _COUNTING = np.arange(min(max(total, 2 * len(_COUNTING)), _KEEP_COUNTING), dtype=np.int64)
    out += _COUNTING[:total] if total <= len(_COUNTING) else np.arange(total, dtype=np.int64)
    return out


class UnitEncoder:
    """Encode cleaned text (single spaces between words) to flat ids, for units or for whole chunks.

    Decomposable pipelines (``word_decomposable``) go through a cache of word encodings that never holds
    a Python object per word: a word is identified by a 64-bit hash of its code points (``word_hashes``,
    one numpy pass over a chunk's text), looked up in an open-addressing table (``HashIndex``), and then
    checked: the code points of every occurrence are compared with those of the cached word, so a hash
    collision only sends the words concerned to the tokenizer directly (exact whatever the hashes). The
    ids of all cached words live in one array (``store``) with each word's start and length; new words
    are encoded by ``Tokenizer.encode_batch``, many per call. Memory is capped: when the cache holds more
    than ``max_entries`` words after a chunk, only the most frequent half is kept (the ids never depend
    on what is cached).
    """

    def __init__(self, tokenizer: Tokenizer, max_entries: int = 1 << 18, share: bool = False) -> None:
        self.tokenizer = tokenizer
        self.share = share  # keep the words it encodes for ``learned`` (prepare's worker processes)
        self.cached = word_decomposable(tokenizer)
        self.max_entries = max_entries
        self.index = HashIndex()  # word hash -> word id
        self._hashes = _Growable(np.uint64)  # per word id: its hash
        self._chars = _Growable(np.uint32)  # code points of the cached words, each followed by a 0
        self._char_start = _Growable()  # per word id: where its code points start in ``_chars``
        self._char_len = _Growable()  # per word id: its length in code points
        self._store = _Growable()  # ids of the cached words, one after the other
        self._word_start = _Growable()  # per word id: where its ids start in the store
        self._word_len = _Growable()  # per word id: how many ids
        self._counts = _Growable()  # per word id: occurrences (aged at each eviction)
        self.collisions = 0  # occurrences whose hash matched another word (encoded directly)
        self._learned: List[LearnedWords] = []  # words this encoder sent to the tokenizer since ``learned``
        self._uncounted: List[np.ndarray] = []  # word ids met since the counts were last brought up to date
        self._uncounted_size = 0

    def __len__(self) -> int:
        """Words in the cache."""
        return self._word_len.size

    @property
    def store(self) -> np.ndarray:
        return self._store.values

    @property
    def word_start(self) -> np.ndarray:
        return self._word_start.values

    @property
    def word_len(self) -> np.ndarray:
        return self._word_len.values

    @property
    def counts(self) -> np.ndarray:
        """Occurrences per word id (aged at each eviction)."""
        self._settle_counts()
        return self._counts.values

    def _settle_counts(self) -> None:
        if self._uncounted:
            counts = self._counts.values
            counts += np.bincount(np.concatenate(self._uncounted), minlength=len(counts))  # a view: updates them
            self._uncounted = []
            self._uncounted_size = 0

    def _count(self, word_ids: np.ndarray) -> None:
        """Count occurrences of cached words, a few chunks at a time (one pass over the counts per batch)."""
        self._uncounted.append(word_ids)
        self._uncounted_size += len(word_ids)
        if self._uncounted_size >= 1 << 20:
            self._settle_counts()

    @property
    def method(self) -> str:
        return "word_cache" if self.cached else "encode_batch"

    def _evict(self, keep: int) -> None:
        """Keep the ``keep`` most frequent words (ties broken by word id: deterministic)."""
        order = np.argsort(-self.counts, kind="stable")[:keep]
        order.sort()
        lengths = self.word_len[order]
        self._store.replace(self.store[_segments(self.word_start[order], lengths)])
        self._word_len.replace(lengths)
        self._word_start.replace(np.cumsum(lengths) - lengths)
        self._counts.replace(self.counts[order] // 2)  # age the counts so that new frequent words can enter
        char_lengths = self._char_len.values[order]
        self._chars.replace(self._chars.values[_segments(self._char_start.values[order], char_lengths + 1)])
        self._char_len.replace(char_lengths)
        self._char_start.replace(np.cumsum(char_lengths + 1) - (char_lengths + 1))
        self._hashes.replace(self._hashes.values[order])
        self.index.rebuild(self._hashes.values, np.arange(len(order), dtype=np.int64))

    def _encode_words(self, words: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        """(ids, per-word lengths) of distinct words: ``encode_batch`` of texts of ``WORDS_PER_TEXT`` words
        joined by spaces, the tokens assigned to words by their end offsets (a token never reaches past its
        word in the pipelines this cache accepts). Short texts of many words: little per-item overhead and
        none of the cost of aligning one huge normalized string."""
        texts = [" ".join(words[i : i + WORDS_PER_TEXT]) for i in range(0, len(words), WORDS_PER_TEXT)]
        encodings = self.tokenizer.backend.encode_batch(texts, add_special_tokens=False)
        counts = np.fromiter(map(len, encodings), dtype=np.int64, count=len(encodings))
        total = int(counts.sum())
        ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=total)
        if total == 0:
            return ids, np.zeros(len(words), dtype=np.int64)
        # by end offset: a Metaspace "▁" token spans the space *before* its word, so it ends where the word
        # starts; offsets are per text, so each text's ends are shifted to the position of the text
        offsets = itertools.chain.from_iterable(itertools.chain.from_iterable(e.offsets for e in encodings))
        token_ends = np.fromiter(offsets, dtype=np.int64, count=2 * total)[1::2]
        word_ends = np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 1) - 1
        text_start = np.zeros(len(texts), dtype=np.int64)  # position of each text in the words joined by spaces
        text_start[1:] = word_ends[WORDS_PER_TEXT - 1 : -1 : WORDS_PER_TEXT][: len(texts) - 1] + 1
        token_ends += np.repeat(text_start, counts)
        owner = np.searchsorted(word_ends, token_ends, side="left")
        return ids, np.bincount(owner, minlength=len(words)).astype(np.int64)

    def _store_words(self, words: LearnedWords) -> None:
        """Append words (absent, distinct hashes) to the cache; their word ids follow the cached ones."""
        first_id = len(self)
        self._word_start.append(np.cumsum(words.lengths) - words.lengths + self._store.size)
        self._word_len.append(words.lengths)
        self._counts.append(np.zeros(len(words), dtype=np.int64))
        self._store.append(words.ids)
        self._char_start.append(np.cumsum(words.char_lengths + 1) - (words.char_lengths + 1) + self._chars.size)
        self._char_len.append(words.char_lengths)
        self._chars.append(words.chars)
        self._hashes.append(words.hashes)
        self.index.insert(words.hashes, np.arange(first_id, first_id + len(words), dtype=np.int64))

    def _add(self, text: str, zeroed: np.ndarray, starts: np.ndarray, ends: np.ndarray, hashes: np.ndarray) -> None:
        """Encode and cache the words ``text[starts[i]:ends[i]]`` (new, distinct hashes). ``zeroed`` is the
        text's code points with a 0 at every separator and at the end."""
        ids, lengths = self._encode_words([text[a:b] for a, b in zip(starts.tolist(), ends.tolist())])
        char_lengths = ends - starts
        words = LearnedWords(hashes, char_lengths, zeroed[_segments(starts, char_lengths + 1)], lengths, ids)
        self._store_words(words)
        if self.share:
            self._learned.append(words)

    def learned(self) -> LearnedWords:
        """The words this encoder encoded since the last call (for ``teach`` in another process)."""
        words = LearnedWords.join(self._learned)
        self._learned = []
        return words

    def teach(self, words: LearnedWords) -> None:
        """Cache words another encoder of the same tokenizer encoded (``learned``), except those whose hash
        is cached already; no tokenizer call."""
        if not self.cached or not len(words):
            return
        fresh = self.index.lookup(words.hashes) < 0
        _, first = np.unique(words.hashes, return_index=True)
        keep = np.zeros(len(words), dtype=bool)
        keep[first] = True
        keep &= fresh
        if not keep.any():
            return
        char_starts = np.cumsum(words.char_lengths + 1) - (words.char_lengths + 1)
        id_starts = np.cumsum(words.lengths) - words.lengths
        self._store_words(
            LearnedWords(
                words.hashes[keep],
                words.char_lengths[keep],
                words.chars[_segments(char_starts[keep], words.char_lengths[keep] + 1)],
                words.lengths[keep],
                words.ids[_segments(id_starts[keep], words.lengths[keep])],
            )
        )
        if len(self) > self.max_entries:
            self._evict(self.max_entries // 2)

    def encode_text(self, text: str, codepoints: np.ndarray, separators: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(flat ids, tokens per word) of the words of ``text`` (decomposable pipelines only): the words are
        what lies between the ``separators`` (sorted positions of single characters, spaces or
        ``LINE_SEPARATOR``); ``codepoints`` is the text as UTF-32 code points. Same ids as encoding the
        words joined by single spaces."""
        n = len(codepoints)
        m = len(separators) + 1
        starts = np.zeros(m, dtype=np.int64)
        starts[1:] = separators + 1
        ends = np.empty(m, dtype=np.int64)
        ends[:-1] = separators
        ends[-1] = n
        word_lengths = ends - starts
        hashes = word_hashes(codepoints, starts, ends)
        word_ids = self.index.lookup(hashes)
        zeroed = np.zeros(n + 1, dtype=np.uint32)  # the text with 0 at separators and after the end
        zeroed[:n] = codepoints
        zeroed[separators] = 0
        missing = np.flatnonzero(word_ids < 0)
        if len(missing):
            # new words: one per distinct hash, represented by its first occurrence, in order of occurrence
            distinct, first, inverse = np.unique(hashes[missing], return_index=True, return_inverse=True)
            order = np.argsort(first, kind="stable")
            new_ids = np.empty(len(distinct), dtype=np.int64)
            new_ids[order] = np.arange(len(self), len(self) + len(distinct), dtype=np.int64)
            chosen = missing[first[order]]
            self._add(text, zeroed, starts[chosen], ends[chosen], distinct[order])
            word_ids[missing] = new_ids[inverse.reshape(-1)]
        # every occurrence is compared with its cached word, code point by code point (with the 0 after each
        # word): equal lengths and equal characters, or the word is encoded directly
        same = self._char_len.values[word_ids] == word_lengths
        compared = np.take(self._chars.values, _segments(self._char_start.values[word_ids], word_lengths + 1), mode="clip")
        unequal = np.flatnonzero(compared != zeroed)
        if len(unequal):
            same[np.searchsorted(starts, unequal, side="right") - 1] = False
        lengths = self.word_len[word_ids]
        token_starts = self.word_start[word_ids]
        source = self.store
        if not same.all():
            strangers = np.flatnonzero(~same)
            self.collisions += len(strangers)
            words = [text[a:b] for a, b in zip(starts[strangers].tolist(), ends[strangers].tolist())]
            distinct_words = list(dict.fromkeys(words))
            ids, distinct_lengths = self._encode_words(distinct_words)
            position = {word: i for i, word in enumerate(distinct_words)}
            which = np.fromiter(map(position.__getitem__, words), dtype=np.int64, count=len(words))
            lengths[strangers] = distinct_lengths[which]
            token_starts[strangers] = (np.cumsum(distinct_lengths) - distinct_lengths)[which] + len(source)
            source = np.concatenate((source, ids))
            word_ids = word_ids[same]
        self._count(word_ids)
        flat = source[_segments(token_starts, lengths)]
        if len(self) > self.max_entries:
            self._evict(self.max_entries // 2)
        return flat, lengths

    def encode_words(self, words: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        """(flat ids, tokens per word) of a text given as its words (no spaces inside; decomposable
        pipelines only): the ids of the words joined by single spaces."""
        text = " ".join(words)
        codepoints = code_points(text)
        return self.encode_text(text, codepoints, np.flatnonzero(codepoints == 32))

    def encode(self, units: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        if not units:
            return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
        if not self.cached:
            pieces: List = self.tokenizer.encode_batch(list(units))
            unit_lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
            flat = np.fromiter(itertools.chain.from_iterable(pieces), dtype=np.int64, count=int(unit_lengths.sum()))
        else:
            flat, lengths = self.encode_words(" ".join(units).split(" "))
            words_per_unit = np.fromiter(map(str.count, units, itertools.repeat(" ")), dtype=np.int64, count=len(units)) + 1
            first_word = np.zeros(len(units), dtype=np.int64)
            np.cumsum(words_per_unit[:-1], out=first_word[1:])
            unit_lengths = np.add.reduceat(lengths, first_word)
        bounds = np.zeros(len(units) + 1, dtype=np.int64)
        np.cumsum(unit_lengths, out=bounds[1:])
        return flat, bounds
