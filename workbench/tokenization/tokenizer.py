"""The tokenizer every stage uses, loaded from a trained ``tokenizers/<name>/`` folder.

A tokenizer folder holds ``tokenizer.json`` (the full `tokenizers` pipeline:
normalizer, pre-tokenizer, model, post-processor), ``workbench_tokenizer.json``
(family, algorithm and special tokens), the files ``transformers`` needs, the
native artefacts, and ``manifest.json`` written last.

Moses+BPE (FlauBERT) vocabularies have a Python pre-tokenization step that no
`tokenizers` component reproduces: for them the text goes through
``workbench.tokenization.moses.MosesPreTokenizer`` (FlaubertTokenizer's exact
preprocessing) and the resulting words through the backend's BPE model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tokenizers import Tokenizer as _HFTokenizer

from workbench.tokenization.sentencepiece_encoder import SentencePieceIds

META_FILE = "workbench_tokenizer.json"
MANIFEST_FILE = "manifest.json"


class TokenizerError(ValueError):
    """A tokenizer folder is missing or incomplete."""


@dataclass(frozen=True)
class SpecialTokens:
    """Special token strings of one family; ``cls``/``sep`` are <s>/</s> for RoBERTa-style vocabularies."""

    pad: str
    unk: str
    cls: str
    sep: str
    mask: str


@dataclass(frozen=True)
class Encoding:
    ids: List[int]
    offsets: List[Tuple[int, int]]  # character span of each token in the original text
    word_ids: List[Optional[int]]  # index of the word (pre-tokenized unit) each token belongs to


class Tokenizer:
    """Encode text to ids exactly as the exported ``transformers`` tokenizer does."""

    def __init__(self, backend: _HFTokenizer, meta: Dict, directory: Optional[Path] = None) -> None:
        self.backend = backend
        self.meta = meta
        self.directory = directory
        missing = [key for key in ("family", "algorithm", "special_tokens") if key not in meta]
        if missing:
            raise TokenizerError(f"{directory or 'tokenizer'}: {META_FILE} lacks {', '.join(missing)}; retrain the tokenizer")
        self.family: str = meta["family"]
        self.algorithm: str = meta["algorithm"]
        self.pre_tokenizer: Optional[str] = meta.get("pre_tokenizer")
        self._moses = None
        if self.pre_tokenizer == "moses":
            from workbench.tokenization.moses import MosesPreTokenizer

            self._moses = MosesPreTokenizer(lowercase=bool(meta.get("lowercase", False)))
        elif self.pre_tokenizer is not None:
            raise TokenizerError(f"{directory or 'tokenizer'}: unknown pre_tokenizer {self.pre_tokenizer!r} in {META_FILE}")
        special = meta["special_tokens"]
        self.special_tokens = SpecialTokens(**{key: special[key] for key in ("pad", "unk", "cls", "sep", "mask")})
        ids = {}
        for key, token in vars(self.special_tokens).items():
            token_id = backend.token_to_id(token)
            if token_id is None:
                raise TokenizerError(f"special token {token!r} ({key}) is not in the vocabulary of {directory}")
            ids[key] = token_id
        self.pad_id: int = ids["pad"]
        self.unk_id: int = ids["unk"]
        self.cls_id: int = ids["cls"]
        self.sep_id: int = ids["sep"]
        self.mask_id: int = ids["mask"]
        added = [token.content for token in backend.get_added_tokens_decoder().values() if token.special]
        self.special_ids = frozenset(ids.values()) | frozenset(backend.token_to_id(token) for token in added)
        self.vocab_size: int = backend.get_vocab_size(with_added_tokens=True)
        self._special_strings = frozenset(token.content for token in backend.get_added_tokens_decoder().values() if token.special)
        ordered = sorted(self._special_strings, key=len, reverse=True)
        self._special_pattern = re.compile("(" + "|".join(re.escape(token) for token in ordered) + ")") if ordered else re.compile("(?!)")
        # SentencePiece BPE: the same ids from sentencepiece itself, 2x faster (texts without special-token strings)
        self._sentencepiece = SentencePieceIds.for_folder(directory, backend, meta)

    # -- loading ---------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: str | Path, require_manifest: bool = True) -> "Tokenizer":
        """Load a tokenizer folder; ``require_manifest=False`` only while the folder is being built."""
        directory = Path(directory)
        if require_manifest and not (directory / MANIFEST_FILE).exists():
            raise TokenizerError(
                f"{directory} is not a finished tokenizer folder (no {MANIFEST_FILE});"
                " train it first: python -m workbench tokenizer tokenizer=<name>"
            )
        for name in (META_FILE, "tokenizer.json"):
            if not (directory / name).is_file():
                raise TokenizerError(f"{directory} has no {name}; retrain it: python -m workbench tokenizer tokenizer=<name>")
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
            backend = _HFTokenizer.from_file(str(directory / "tokenizer.json"))
        except Exception as error:  # json, OS and tokenizers errors (tokenizers raises a bare Exception)
            raise TokenizerError(f"{directory}: cannot read the tokenizer files ({type(error).__name__}: {error})") from None
        return cls(backend, meta, directory)

    # -- encoding --------------------------------------------------------------------------------------------
    def pre_tokenize(self, text: str) -> Optional[List[str]]:
        """Moses tokens of ``text`` for Moses+BPE vocabularies, ``None`` when the backend splits text itself."""
        return self._moses(text) if self._moses is not None else None

    def _moses_words(self, text: str) -> List[str]:
        """Moses tokens, with special-token strings kept whole (transformers splits them out before Moses)."""
        assert self._moses is not None
        words: List[str] = []
        for piece in self._special_pattern.split(text):
            if not piece:
                continue
            if piece in self._special_strings:
                words.append(piece)
            else:
                words.extend(self._moses(piece))
        return words

    def encode(self, text: str) -> List[int]:
        """Ids of ``text`` without special tokens."""
        if self._sentencepiece is not None and not self._special_pattern.search(text):
            return self._sentencepiece.encode(text)
        if self._moses is not None:
            return self.backend.encode(self._moses_words(text), is_pretokenized=True, add_special_tokens=False).ids
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        """Ids of each text without special tokens (parallel inside the Rust backend).

        Uses the backend's ``encode_batch_fast`` where the installed `tokenizers` has it: the same ids,
        without computing character offsets nobody reads here. SentencePiece BPE folders encode the texts
        that hold no special-token string with sentencepiece itself (``SentencePieceIds``: the same ids).
        """
        if self._sentencepiece is not None:
            return self._sentencepiece_batch(texts)
        encode = getattr(self.backend, "encode_batch_fast", self.backend.encode_batch)
        if self._moses is not None:
            words = [self._moses_words(text) for text in texts]
            return [enc.ids for enc in encode(words, is_pretokenized=True, add_special_tokens=False)]
        return [enc.ids for enc in encode(list(texts), add_special_tokens=False)]

    def _sentencepiece_batch(self, texts: Sequence[str]) -> List[List[int]]:
        assert self._sentencepiece is not None
        special = [index for index, text in enumerate(texts) if self._special_pattern.search(text)]
        if not special:
            return self._sentencepiece.encode_batch(texts)
        plain = set(range(len(texts))) - set(special)
        fast = iter(self._sentencepiece.encode_batch([texts[index] for index in sorted(plain)]))
        backend = iter(enc.ids for enc in self.backend.encode_batch([texts[index] for index in special], add_special_tokens=False))
        return [next(fast) if index in plain else next(backend) for index in range(len(texts))]

    def encode_with_offsets(self, text: str) -> Encoding:
        """Ids with the character span of each token in ``text``.

        Moses+BPE: Moses rewrites some characters (quotes, unicode punctuation), so spans are found by matching
        each Moses token in ``text`` left to right; a token that does not occur verbatim gets the span of its
        whole word when found, else an empty span at the current position.
        """
        if self._moses is None:
            enc = self.backend.encode(text, add_special_tokens=False)
            return Encoding(list(enc.ids), [tuple(o) for o in enc.offsets], list(enc.word_ids))
        words = self._moses_words(text)
        spans = _align_words(text, words)
        enc = self.backend.encode(words, is_pretokenized=True, add_special_tokens=False)
        offsets = []
        for (start, end), word_id in zip(enc.offsets, enc.word_ids):
            word_start, word_end = spans[word_id]
            if word_end - word_start == len(words[word_id]):
                offsets.append((word_start + start, word_start + end))
            else:
                offsets.append((word_start, word_end))
        return Encoding(list(enc.ids), offsets, list(enc.word_ids))

    def encode_batch_with_offsets(self, texts: Sequence[str]) -> List[Encoding]:
        """``encode_with_offsets`` of each text (batched in the Rust backend when no Python pre-tokenizer runs)."""
        if self._moses is not None:
            return [self.encode_with_offsets(text) for text in texts]
        return [
            Encoding(list(enc.ids), [tuple(o) for o in enc.offsets], list(enc.word_ids))
            for enc in self.backend.encode_batch(list(texts), add_special_tokens=False)
        ]

    def encode_words(self, words: Sequence[str]) -> Encoding:
        """Ids of pre-split words (NER): ``word_ids`` maps each token to its word.

        Offsets are relative to each word. Moses+BPE: each word is Moses-processed on its own (as transformers
        does with ``is_split_into_words=True``), so one input word may give several Moses tokens.
        """
        if self._moses is None:
            enc = self.backend.encode(list(words), is_pretokenized=True, add_special_tokens=False)
            return Encoding(list(enc.ids), [tuple(o) for o in enc.offsets], list(enc.word_ids))
        pieces: List[str] = []
        owner: List[int] = []
        for index, word in enumerate(words):
            for piece in self._moses_words(word):
                pieces.append(piece)
                owner.append(index)
        enc = self.backend.encode(pieces, is_pretokenized=True, add_special_tokens=False)
        word_ids = [owner[w] if w is not None else None for w in enc.word_ids]
        return Encoding(list(enc.ids), [tuple(o) for o in enc.offsets], word_ids)

    def build_inputs(self, first: Sequence[int], second: Optional[Sequence[int]] = None) -> Tuple[List[int], List[int]]:
        """Add the family's special tokens; returns (ids, token_type_ids).

        BERT: [CLS] A [SEP] B [SEP] with types 0/1. RoBERTa/CamemBERT: <s> A </s></s> B </s>, all type 0.
        FlauBERT: <s> A </s> B </s> with types 0/1 (what transformers' FlaubertTokenizer returns).
        """
        ids = [self.cls_id, *first, self.sep_id]
        types = [0] * len(ids)
        if second is not None:
            if self.family == "roberta":
                middle = [self.sep_id, *second, self.sep_id]
                ids += middle
                types += [0] * len(middle)
            else:
                tail = [*second, self.sep_id]
                ids += tail
                types += [1] * len(tail)  # bert and flaubert
        return ids, types

    def num_special_tokens(self, pair: bool) -> int:
        if not pair:
            return 2
        return 4 if self.family == "roberta" else 3

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def id_to_token(self, token_id: int) -> Optional[str]:
        return self.backend.id_to_token(token_id)

    def token_to_id(self, token: str) -> Optional[int]:
        return self.backend.token_to_id(token)

    def tokenize(self, text: str) -> List[str]:
        """Token strings of ``text`` (no special tokens)."""
        return [self.backend.id_to_token(token_id) for token_id in self.encode(text)]

    def normalize(self, text: str) -> str:
        """``text`` after the saved normalizer (Moses+BPE: after FlauBERT's preprocessing)."""
        if self._moses is not None:
            return self._moses.preprocess(text)
        normalizer = self.backend.normalizer
        return normalizer.normalize_str(text) if normalizer is not None else text


def _align_words(text: str, words: Sequence[str]) -> List[Tuple[int, int]]:
    spans = []
    cursor = 0
    for word in words:
        found = text.find(word, cursor)
        if found < 0:
            spans.append((cursor, cursor))
            continue
        spans.append((found, found + len(word)))
        cursor = found + len(word)
    return spans
