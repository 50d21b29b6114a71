"""The tokenizer every stage uses, loaded from a trained ``tokenizers/<name>/`` folder.

A tokenizer folder holds ``tokenizer.json`` (the full `tokenizers` pipeline:
normalizer, pre-tokenizer, model, post-processor), ``workbench_tokenizer.json``
(family, algorithm and special tokens), the files ``transformers`` needs, the
native artefacts, and ``manifest.json`` written last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tokenizers import Tokenizer as _HFTokenizer

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
        self.family: str = meta["family"]
        self.algorithm: str = meta["algorithm"]
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

    # -- loading ---------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: str | Path) -> "Tokenizer":
        directory = Path(directory)
        if not (directory / MANIFEST_FILE).exists():
            raise TokenizerError(
                f"{directory} is not a finished tokenizer folder (no {MANIFEST_FILE});"
                " train it first: python -m workbench tokenizer tokenizer=<name>"
            )
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        backend = _HFTokenizer.from_file(str(directory / "tokenizer.json"))
        return cls(backend, meta, directory)

    # -- encoding --------------------------------------------------------------------------------------------
    def encode(self, text: str) -> List[int]:
        """Ids of ``text`` without special tokens."""
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        """Ids of each text without special tokens (parallel inside the Rust backend)."""
        return [enc.ids for enc in self.backend.encode_batch(list(texts), add_special_tokens=False)]

    def encode_with_offsets(self, text: str) -> Encoding:
        enc = self.backend.encode(text, add_special_tokens=False)
        return Encoding(list(enc.ids), [tuple(o) for o in enc.offsets], list(enc.word_ids))

    def encode_words(self, words: Sequence[str]) -> Encoding:
        """Ids of pre-split words (NER): ``word_ids`` maps each token to its word."""
        enc = self.backend.encode(list(words), is_pretokenized=True, add_special_tokens=False)
        return Encoding(list(enc.ids), [tuple(o) for o in enc.offsets], list(enc.word_ids))

    def build_inputs(self, first: Sequence[int], second: Optional[Sequence[int]] = None) -> Tuple[List[int], List[int]]:
        """Add the family's special tokens; returns (ids, token_type_ids).

        BERT: [CLS] A [SEP] B [SEP] with types 0/1. RoBERTa/CamemBERT: <s> A </s></s> B </s>, all type 0.
        FlauBERT: <s> A </s> B </s>, all type 0.
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
                types += [1 if self.family == "bert" else 0] * len(tail)
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
