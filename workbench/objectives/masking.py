"""Masked-language-model masking: a pure function of ids, vocabulary and a seeded generator.

Selection: each non-special token (or each whole word, with ``word_starts``) is selected with probability
``mlm_probability``. Of the selected tokens, ``mask_token_fraction`` become the mask token,
``random_token_fraction`` a token drawn uniformly from the vocabulary WITHOUT its special ids, the rest stay
unchanged (BERT's 80/10/10). The 80/10/10 decision is made per token, as in Google BERT and transformers.
Special tokens and padding are never selected. Labels hold the original id at selected positions, -100
elsewhere.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Optional, Tuple

import torch

IGNORE_INDEX = -100


def generator_for(seed: int, epoch: int, index: int) -> torch.Generator:
    """A CPU generator seeded from (seed, epoch, index) only: the same sample gets the same mask wherever
    (and in whichever process or batch) it is drawn. The three numbers are hashed, so nearby tuples give
    unrelated streams."""
    digest = hashlib.blake2b(f"{int(seed)}:{int(epoch)}:{int(index)}".encode(), digest_size=8).digest()
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int.from_bytes(digest, "little") & ((1 << 63) - 1))
    return generator


def _special_tensor(special_ids: Iterable[int]) -> torch.Tensor:
    return torch.tensor(sorted({int(i) for i in special_ids}), dtype=torch.long)


def replacement_ids(vocab_size: int, special_ids: Iterable[int]) -> torch.Tensor:
    """The ids a random replacement may take: ``0 .. vocab_size - 1`` without the special ids."""
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    specials = _special_tensor(special_ids)
    specials = specials[(specials >= 0) & (specials < vocab_size)]
    allowed[specials] = False
    ids = torch.nonzero(allowed, as_tuple=False).flatten()
    if ids.numel() == 0:
        raise ValueError(f"no non-special token in a vocabulary of {vocab_size}: cannot draw random replacements")
    return ids


def word_ids_from_starts(word_starts: torch.Tensor, special: torch.Tensor) -> torch.Tensor:
    """``[B, T]`` global word index of each token (unique across the batch).

    A word begins at a ``word_starts`` token, at the first position of a row, at a special token and right
    after one: words never span special tokens or rows.
    """
    batch, seqlen = word_starts.shape
    starts = word_starts.bool() | special
    after_special = torch.zeros_like(special)
    after_special[:, 1:] = special[:, :-1]
    starts = starts | after_special
    starts[:, 0] = True
    local = torch.cumsum(starts.long(), dim=1) - 1  # 0 .. (words in row - 1) <= T - 1
    return local + torch.arange(batch, device=word_starts.device)[:, None] * seqlen


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    vocab_size: int,
    special_ids: Iterable[int],
    mask_id: int,
    generator: torch.Generator,
    mlm_probability: float = 0.15,
    mask_token_fraction: float = 0.8,
    random_token_fraction: float = 0.1,
    word_starts: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return ``(masked_ids, labels)`` for ``input_ids`` ``[B, T]`` (a new tensor; the input is untouched).

    Random draws come from ``generator`` only (on its device; results move to ``input_ids``' device), in a
    fixed order, so the same generator state and inputs give the same result.
    ``word_starts`` ``[B, T]`` bool: whole-word masking, a word being a start token plus the continuation
    tokens after it (see ``workbench.objectives.words``).
    """
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be [batch, seqlen], got shape {tuple(input_ids.shape)}")
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability={mlm_probability} must be between 0 and 1")
    if mask_token_fraction < 0 or random_token_fraction < 0 or mask_token_fraction + random_token_fraction > 1.0:
        raise ValueError(
            f"mask_token_fraction={mask_token_fraction} and random_token_fraction={random_token_fraction}"
            " must be >= 0 and sum to at most 1"
        )
    if word_starts is not None and word_starts.shape != input_ids.shape:
        raise ValueError(f"word_starts {tuple(word_starts.shape)} must have the shape of input_ids {tuple(input_ids.shape)}")
    device = input_ids.device
    draw_device = generator.device
    ids = input_ids.to(draw_device)
    special = torch.isin(ids, _special_tensor(special_ids).to(draw_device))
    candidates = ~special
    if word_starts is None:
        selected = torch.rand(ids.shape, generator=generator, device=draw_device) < mlm_probability
    else:
        word_ids = word_ids_from_starts(word_starts.to(draw_device), special)
        word_selected = torch.rand(ids.numel(), generator=generator, device=draw_device) < mlm_probability
        selected = word_selected[word_ids]
    selected &= candidates

    choice = torch.rand(ids.shape, generator=generator, device=draw_device)
    to_mask = selected & (choice < mask_token_fraction)
    to_random = selected & (choice >= mask_token_fraction) & (choice < mask_token_fraction + random_token_fraction)
    pool = replacement_ids(vocab_size, special_ids).to(draw_device)
    random_tokens = pool[torch.randint(pool.numel(), ids.shape, generator=generator, device=draw_device)]

    masked = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    masked = torch.where(to_random, random_tokens, masked)
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
    return masked.to(device), labels.to(device)
