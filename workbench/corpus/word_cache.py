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


class UnitEncoder:
    """Encode lists of cleaned units (single spaces between words) to (flat ids, unit offsets).

    The cache maps a word to a word id; the ids of all cached words live in one
    array (``store``) with each word's start and length, so a chunk is encoded
    with one dictionary lookup per word and vectorised gathers. Memory is
    capped: when ``max_entries`` is reached, only the most frequent half of the
    words is kept (the ids never depend on what is cached).
    """

    def __init__(self, tokenizer: Tokenizer, max_entries: int = 1 << 17) -> None:
        self.tokenizer = tokenizer
        self.cached = word_decomposable(tokenizer)
        # decomposable pipelines are backend-only (no Python-side pre-tokenization): the missing words of a
        # chunk are encoded as one text, which by decomposability gives each word's ids in turn
        self.joined = self.cached
        self.max_entries = max_entries
        self.cache: Dict[str, int] = {}
        self.store = np.zeros(0, dtype=np.int64)
        self.word_start = np.zeros(0, dtype=np.int64)
        self.word_len = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int64)

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
        self.store = self.store[gather]
        self.word_len = lengths
        self.word_start = np.cumsum(lengths) - lengths
        self.counts = self.counts[order] // 2  # age the counts so that new frequent words can enter
        self.cache = dict(zip(kept_words, range(len(kept_words))))

    def _encode_words(self, words: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        """(ids, per-word lengths) of distinct words: one ``encode`` of the words joined by spaces, the
        tokens assigned to words by their end offsets (a token never reaches past its word in the
        pipelines this cache accepts). One long text instead of many short ones: no per-item overhead."""
        text = " ".join(words)
        encoding = self.tokenizer.backend.encode(text, add_special_tokens=False)
        ids = np.asarray(encoding.ids, dtype=np.int64)
        if len(ids) == 0:
            return ids, np.zeros(len(words), dtype=np.int64)
        # by end offset: a Metaspace "▁" token spans the space *before* its word, so it ends where the word starts
        token_ends = np.fromiter((end for _start, end in encoding.offsets), dtype=np.int64, count=len(ids))
        word_ends = np.cumsum(np.fromiter((len(w) + 1 for w in words), dtype=np.int64, count=len(words))) - 1
        owner = np.searchsorted(word_ends, token_ends, side="left")
        return ids, np.bincount(owner, minlength=len(words)).astype(np.int64)

    def _add(self, words: List[str]) -> None:
        if self.joined:
            ids, lengths = self._encode_words(words)
        else:
            encoded = self.tokenizer.encode_batch(words)
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
            ids = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int64, count=int(lengths.sum()))
        first_id = len(self.word_len)
        self.word_start = np.concatenate((self.word_start, np.cumsum(lengths) - lengths + len(self.store)))
        self.word_len = np.concatenate((self.word_len, lengths))
        self.counts = np.concatenate((self.counts, np.zeros(len(words), dtype=np.int64)))
        self.store = np.concatenate((self.store, ids))
        self.cache.update(zip(words, range(first_id, first_id + len(words))))

    def encode(self, units: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        if not units:
            return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
        if not self.cached:
            pieces: List = self.tokenizer.encode_batch(list(units))
            unit_lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
            flat = np.fromiter(itertools.chain.from_iterable(pieces), dtype=np.int64, count=int(unit_lengths.sum()))
        else:
            words = " ".join(units).split(" ")
            distinct = set(words)
            missing = distinct.difference(self.cache)
            if missing and len(self.cache) + len(missing) > self.max_entries:
                self._evict(max(0, min(len(self.cache), self.max_entries // 2, self.max_entries - len(missing))))
                missing = distinct.difference(self.cache)
            if missing:
                self._add(sorted(missing))
            word_ids = np.fromiter(map(self.cache.__getitem__, words), dtype=np.int64, count=len(words))
            np.add.at(self.counts, word_ids, 1)
            lengths = self.word_len[word_ids]
            total = int(lengths.sum())
            shift = self.word_start[word_ids] - (np.cumsum(lengths) - lengths)
            flat = self.store[np.arange(total, dtype=np.int64) + np.repeat(shift, lengths)]
            words_per_unit = np.fromiter((u.count(" ") + 1 for u in units), dtype=np.int64, count=len(units))
            first_word = np.zeros(len(units), dtype=np.int64)
            np.cumsum(words_per_unit[:-1], out=first_word[1:])
            unit_lengths = np.add.reduceat(lengths, first_word)
        bounds = np.zeros(len(units) + 1, dtype=np.int64)
        np.cumsum(unit_lengths, out=bounds[1:])
        return flat, bounds
