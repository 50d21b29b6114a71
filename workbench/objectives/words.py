"""Where words start, for whole-word masking, under each tokenizer convention.

``wordpiece``: a token starting with ``##`` continues the previous word.
``sentencepiece`` (unigram or BPE): a token starting with ``▁`` (U+2581) starts a word; any other token
continues the previous one (transformers' whole-word collator assumes ``##`` and so treats every
SentencePiece token as its own word: wrong).
``byte_bpe`` (GPT-2/RoBERTa): a token starting with ``Ġ`` starts a word.
``moses_bpe`` (subword-nmt, XLM/FlauBERT): a token ending with ``@@`` is continued by the NEXT token.
Special tokens are words of their own, and the token after a special token starts a word.
The convention names are the tokenizer algorithm names (``TokenizerConfig.algorithm``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, List, Sequence

import torch

CONVENTIONS = ("wordpiece", "sentencepiece_unigram", "sentencepiece_bpe", "moses_bpe", "byte_bpe")


def _check(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"word convention {convention!r} is not valid; choose one of: {', '.join(CONVENTIONS)}")


def _starts_word(token: str, convention: str) -> bool:
    if convention == "wordpiece":
        return not token.startswith("##")
    if convention.startswith("sentencepiece"):
        return token.startswith("\u2581")
    if convention == "byte_bpe":
        return token.startswith("\u0120")
    return True  # moses_bpe: decided by the previous token


def _joins_next(token: str, convention: str) -> bool:
    return convention == "moses_bpe" and token.endswith("@@")


def word_starts_from_tokens(
    tokens: Sequence[str], convention: str, special_tokens: Collection[str] = ()
) -> List[bool]:
    """One flag per token string: True where a word starts."""
    _check(convention)
    flags = []
    previous = None
    for token in tokens:
        if token in special_tokens or previous is None or previous in special_tokens:
            start = True
        else:
            start = _starts_word(token, convention) and not _joins_next(previous, convention)
        flags.append(start)
        previous = token
    return flags


@dataclass(frozen=True)
class WordBoundaries:
    """Per-vocabulary-id tables so that ``word_starts`` is a tensor lookup."""

    starts_word: torch.Tensor  # bool [V]: the token can start a word by itself
    joins_next: torch.Tensor  # bool [V]: the token glues the next token to its word (moses_bpe ``@@``)
    special: torch.Tensor  # bool [V]

    @classmethod
    def from_vocab(cls, tokens: Sequence[str], convention: str, special_ids: Collection[int] = ()) -> "WordBoundaries":
        """``tokens[i]`` is the string of id ``i``."""
        _check(convention)
        starts = torch.tensor([_starts_word(t, convention) for t in tokens], dtype=torch.bool)
        joins = torch.tensor([_joins_next(t, convention) for t in tokens], dtype=torch.bool)
        special = torch.zeros(len(tokens), dtype=torch.bool)
        for i in special_ids:
            special[int(i)] = True
        return cls(starts | special, joins & ~special, special)

    def word_starts(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` ids -> ``[B, T]`` bool word starts (same rules as ``word_starts_from_tokens``)."""
        ids = input_ids.to(self.starts_word.device)
        starts = self.starts_word[ids].clone()
        previous_joins = torch.zeros_like(starts)
        previous_joins[:, 1:] = self.joins_next[ids[:, :-1]]
        starts &= ~previous_joins
        after_special = torch.zeros_like(starts)
        after_special[:, 1:] = self.special[ids[:, :-1]]
        starts |= after_special | self.special[ids]
        starts[:, 0] = True
        return starts.to(input_ids.device)
