"""Exact fast encoding of cleaned text through a per-process cache of word encodings.

For pipelines whose pre-tokenizer drops whitespace and treats every
whitespace-separated word on its own (BERT's pre-tokenizer, Whitespace,
WhitespaceSplit, SentencePiece's Metaspace with ``prepend_scheme=always`` and
``split=true``) and whose normalizer acts within words, the ids of a text whose
words are separated by single spaces are the concatenation of the ids of its
words. Natural text repeats words (Zipf), so each distinct word is encoded once
by ``Tokenizer.encode_batch`` and the rest is dictionary lookups. Any other
pipeline (byte-level BPE, Moses, unknown components) goes through
``Tokenizer.encode_batch`` unit by unit. Either way the ids are the ones
``Tokenizer.encode_batch`` gives (tested on real text for each pipeline kind).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np

from workbench.tokenization.tokenizer import Tokenizer

WORD_LOCAL_NORMALIZERS = {"NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "Strip", "BertNormalizer", "Nmt"}
WORDS_PER_TEXT = 64  # distinct words encoded together (one text of the batch sent to the backend)
WORD_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}


def _regex_is_word_local(pattern: str, content: str) -> bool:
    """A Replace step that can neither match across a space nor introduce one."""
    if " " in content and pattern not in (r"\s+", r"\s"):
        return False
    if pattern in (r"\s+", r"\s"):
        return content == " "
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


class _WordIds(dict):
    """word -> word id (0, 1, 2, ... in order of arrival); a missing word gets the next id and is queued in
    ``new_words``, so one C-level pass of lookups both finds the known words and registers the new ones."""

    __slots__ = ("new_words",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.new_words: List[str] = []

    def __missing__(self, word: str) -> int:
        word_id = len(self)
        self[word] = word_id
        self.new_words.append(word)
        return word_id


class _Growable:
    """An int64 array appended to in amortised O(1) (capacity doubles): no copy of the whole array per append."""

    def __init__(self) -> None:
        self._data = np.zeros(1024, dtype=np.int64)
        self.size = 0

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.size]

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.zeros(max(end, 2 * len(self._data)), dtype=np.int64)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = values
        self.size = end

    def replace(self, values: np.ndarray) -> None:
        self.size = 0
        self.append(values)


class UnitEncoder:
    """Encode lists of cleaned units (single spaces between words) to (flat ids, unit offsets).

    The cache maps a word to a word id; the ids of all cached words live in one
    array (``store``) with each word's start and length, so a chunk is encoded
    with one dictionary lookup per word and vectorised gathers. Memory is
    capped: when the cache holds more than ``max_entries`` words after a chunk,
    only the most frequent half is kept (the ids never depend on what is cached).
    """

    def __init__(self, tokenizer: Tokenizer, max_entries: int = 1 << 18) -> None:
        self.tokenizer = tokenizer
        self.cached = word_decomposable(tokenizer)
        self.max_entries = max_entries
        self.cache: _WordIds = _WordIds()
        self._store = _Growable()  # ids of the cached words, one after the other
        self._word_start = _Growable()  # per word id: where its ids start in the store
        self._word_len = _Growable()  # per word id: how many ids
        self._counts = _Growable()  # per word id: occurrences (aged at each eviction)

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
        return self._counts.values

    @property
    def method(self) -> str:
        return "word_cache" if self.cached else "encode_batch"

    def _evict(self, keep: int) -> None:
        """Keep the ``keep`` most frequent words (ties broken by word id: deterministic)."""
        order = np.argsort(-self.counts, kind="stable")[:keep]
        order.sort()
        words = list(self.cache)
        kept_words = [words[i] for i in order.tolist()]
        lengths = self.word_len[order]
        gather = np.repeat(self.word_start[order] - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
        self._store.replace(self.store[gather])
        self._word_len.replace(lengths)
        self._word_start.replace(np.cumsum(lengths) - lengths)
        self._counts.replace(self.counts[order] // 2)  # age the counts so that new frequent words can enter
        self.cache = _WordIds(zip(kept_words, range(len(kept_words))))

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
        token_ends = np.fromiter(itertools.chain.from_iterable(e.offsets for e in encodings), dtype=np.dtype((np.int64, 2)), count=total)[:, 1]
        word_ends = np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 1) - 1
        text_start = np.zeros(len(texts), dtype=np.int64)  # position of each text in the words joined by spaces
        text_start[1:] = word_ends[WORDS_PER_TEXT - 1 : -1 : WORDS_PER_TEXT][: len(texts) - 1] + 1
        token_ends += np.repeat(text_start, counts)
        owner = np.searchsorted(word_ends, token_ends, side="left")
        return ids, np.bincount(owner, minlength=len(words)).astype(np.int64)

    def _add(self, words: List[str]) -> None:
        """Encode the words registered by the last lookups (their ids follow the cached ones)."""
        ids, lengths = self._encode_words(words)
        self._word_start.append(np.cumsum(lengths) - lengths + self._store.size)
        self._word_len.append(lengths)
        self._counts.append(np.zeros(len(words), dtype=np.int64))
        self._store.append(ids)

    def encode_words(self, words: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        """(flat ids, tokens per word) of a text given as its words (decomposable pipelines only): the ids
        of the words joined by single spaces."""
        cache = self.cache
        cache.new_words = []
        word_ids = np.fromiter(map(cache.__getitem__, words), dtype=np.int64, count=len(words))
        if cache.new_words:
            self._add(cache.new_words)
            cache.new_words = []
        counts = self.counts
        counts += np.bincount(word_ids, minlength=len(counts))  # a view: updates the cache's counts
        lengths = self.word_len[word_ids]
        total = int(lengths.sum())
        shift = self.word_start[word_ids] - (np.cumsum(lengths) - lengths)
        flat = self.store[np.arange(total, dtype=np.int64) + np.repeat(shift, lengths)]
        if len(cache) > self.max_entries:
            self._evict(self.max_entries // 2)
        return flat, lengths

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
