"""Masked-language-model masking: a pure function of ids, vocabulary and seeded random draws.

Selection: each non-special token (or each whole word, with ``word_starts``) is selected with probability
``mlm_probability``. Of the selected tokens, ``mask_token_fraction`` become the mask token,
``random_token_fraction`` a token drawn uniformly from the vocabulary WITHOUT its special ids, the rest stay
unchanged (BERT's 80/10/10). The 80/10/10 decision is made per token, as in Google BERT and transformers.
Special tokens and padding are never selected. Labels hold the original id at selected positions, -100
elsewhere.

The random numbers come first (``MaskDraws``), the masking itself is one vectorized pass over the batch
(``apply_masking``). ``mask_tokens`` draws them from one generator for the whole tensor; ``mask_sequences``
gives each row its own seed and draws only over the row's real tokens, so a sequence's mask depends on its
seed alone (not on the batch it lands in, its padding, or the other rows): the per-row work is three draws.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Optional, Sequence, Tuple

import torch

IGNORE_INDEX = -100


def masking_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit generator seed from (seed, epoch, index) only. The three numbers are hashed, so nearby
    tuples give unrelated streams."""
    digest = hashlib.blake2b(f"{int(seed)}:{int(epoch)}:{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def generator_for(seed: int, epoch: int, index: int) -> torch.Generator:
    """A CPU generator seeded from (seed, epoch, index) only: the same sample gets the same mask wherever
    (and in whichever process or batch) it is drawn."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(masking_seed(seed, epoch, index))
    return generator


def _special_tensor(special_ids: Iterable[int]) -> torch.Tensor:
    return torch.tensor(sorted({int(i) for i in special_ids}), dtype=torch.long)


@lru_cache(maxsize=16)
def _replacement_pool(vocab_size: int, specials: Tuple[int, ...]) -> torch.Tensor:
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    special = torch.tensor(specials, dtype=torch.long)
    special = special[(special >= 0) & (special < vocab_size)]
    allowed[special] = False
    ids = torch.nonzero(allowed, as_tuple=False).flatten()
    if ids.numel() == 0:
        raise ValueError(f"no non-special token in a vocabulary of {vocab_size}: cannot draw random replacements")
    return ids


def _pool(vocab_size: int, special_ids: Iterable[int]) -> torch.Tensor:
    """The cached replacement pool (read-only: callers index it, never write it)."""
    return _replacement_pool(int(vocab_size), tuple(sorted({int(i) for i in special_ids})))


def replacement_ids(vocab_size: int, special_ids: Iterable[int]) -> torch.Tensor:
    """The ids a random replacement may take: ``0 .. vocab_size - 1`` without the special ids."""
    return _pool(vocab_size, special_ids).clone()


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


@dataclass(frozen=True)
class MaskDraws:
    """The random numbers of one masking, each ``[B, T]``, drawn in this order from a generator.

    ``select``: uniform in [0, 1), one per token; with whole-word masking word ``w`` of a row uses the row's
    ``select[w]`` (word number, not position). ``choice``: uniform, mask token / random token / unchanged.
    ``replacement``: index into the replacement pool (the vocabulary without its special ids).
    """

    select: torch.Tensor
    choice: torch.Tensor
    replacement: torch.Tensor

    def to(self, device: torch.device) -> "MaskDraws":
        return MaskDraws(self.select.to(device), self.choice.to(device), self.replacement.to(device))


def draw(shape: Tuple[int, int], pool_size: int, generator: torch.Generator) -> MaskDraws:
    """Draws for a ``shape`` tensor from one generator (on the generator's device)."""
    device = generator.device
    select = torch.rand(shape, generator=generator, device=device)
    choice = torch.rand(shape, generator=generator, device=device)
    replacement = torch.randint(pool_size, shape, generator=generator, device=device)
    return MaskDraws(select, choice, replacement)


def real_positions(lengths: Sequence[int], width: int, device: torch.device) -> torch.Tensor:
    """``[len(lengths), width]`` bool: True on each row's first ``lengths[b]`` positions (its real tokens)."""
    return torch.arange(width, device=device)[None, :] < torch.tensor(list(lengths), dtype=torch.long, device=device)[:, None]


def draw_rows(lengths: Sequence[int], width: int, pool_size: int, seeds: Sequence[int]) -> MaskDraws:
    """Draws for a ``[len(lengths), width]`` batch, row ``b`` from a CPU generator seeded with ``seeds[b]``.

    A row draws over its first ``lengths[b]`` positions only (zeros after them), exactly what
    ``draw((1, lengths[b]), pool_size, generator)`` gives: its draws depend on its seed and length alone.
    """
    if len(lengths) != len(seeds):
        raise ValueError(f"{len(lengths)} lengths but {len(seeds)} seeds: one seed per row")
    if any(not 0 <= length <= width for length in lengths):
        raise ValueError(f"row lengths {list(lengths)} must be between 0 and the batch width {width}")
    generator = torch.Generator(device="cpu")
    selects, choices, replacements = [], [], []
    for seed, length in zip(seeds, lengths):
        generator.manual_seed(int(seed))
        selects.append(torch.rand(length, generator=generator))
        choices.append(torch.rand(length, generator=generator))
        replacements.append(torch.randint(pool_size, (length,), generator=generator))
    valid = real_positions(lengths, width, torch.device("cpu"))
    flat_positions = torch.nonzero(valid.reshape(-1), as_tuple=False).squeeze(1)  # row-major: row b's first lengths[b]

    def place(parts, dtype):
        out = torch.zeros(len(lengths) * width, dtype=dtype)
        if parts:
            out.index_copy_(0, flat_positions, torch.cat(parts))
        return out.view(len(lengths), width)

    return MaskDraws(place(selects, torch.float32), place(choices, torch.float32), place(replacements, torch.long))


def _check_arguments(input_ids, mlm_probability, mask_token_fraction, random_token_fraction, word_starts) -> None:
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


def apply_masking(
    input_ids: torch.Tensor,
    draws: MaskDraws,
    *,
    vocab_size: int,
    special_ids: Iterable[int],
    mask_id: int,
    mlm_probability: float = 0.15,
    mask_token_fraction: float = 0.8,
    random_token_fraction: float = 0.1,
    word_starts: Optional[torch.Tensor] = None,
    valid: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(masked_ids, labels)`` of ``input_ids`` ``[B, T]`` from ``draws`` (same device), in one pass over the batch.

    ``valid`` ``[B, T]`` bool: positions that may be selected (a row's real tokens); None: all.
    """
    _check_arguments(input_ids, mlm_probability, mask_token_fraction, random_token_fraction, word_starts)
    ids = input_ids
    device = ids.device
    special = torch.isin(ids, _special_tensor(special_ids).to(device))
    candidates = ~special if valid is None else valid & ~special
    if word_starts is None:
        selected = draws.select < mlm_probability
    else:
        word_ids = word_ids_from_starts(word_starts.to(device), special)
        selected = (draws.select < mlm_probability).reshape(-1)[word_ids]
    selected &= candidates

    choice = draws.choice
    to_mask = selected & (choice < mask_token_fraction)
    to_random = selected & (choice >= mask_token_fraction) & (choice < mask_token_fraction + random_token_fraction)
    random_tokens = _pool(vocab_size, special_ids).to(device)[draws.replacement]

    masked = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    masked = torch.where(to_random, random_tokens, masked)
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
    return masked, labels


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
    device = input_ids.device  # the arguments are checked by apply_masking
    draw_device = generator.device
    draws = draw(tuple(input_ids.shape), _pool(vocab_size, special_ids).numel(), generator)
    masked, labels = apply_masking(
        input_ids.to(draw_device), draws, vocab_size=vocab_size, special_ids=special_ids, mask_id=mask_id,
        mlm_probability=mlm_probability, mask_token_fraction=mask_token_fraction,
        random_token_fraction=random_token_fraction,
        word_starts=None if word_starts is None else word_starts.to(draw_device),
    )
    return masked.to(device), labels.to(device)


def mask_sequences(
    input_ids: torch.Tensor,
    lengths: Sequence[int],
    seeds: Sequence[int],
    *,
    vocab_size: int,
    special_ids: Iterable[int],
    mask_id: int,
    mlm_probability: float = 0.15,
    mask_token_fraction: float = 0.8,
    random_token_fraction: float = 0.1,
    word_starts: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mask a padded batch whose row ``b`` holds ``lengths[b]`` real tokens, row ``b`` seeded by ``seeds[b]``.

    Row ``b`` gets exactly ``mask_tokens(input_ids[b:b+1, :lengths[b]], generator=<seeded with seeds[b]>)``
    (padding untouched, labels -100 there), computed for the whole batch at once.
    """
    _check_arguments(input_ids, mlm_probability, mask_token_fraction, random_token_fraction, word_starts)
    batch, width = input_ids.shape
    if len(lengths) != batch:
        raise ValueError(f"{len(lengths)} lengths for a batch of {batch} rows")
    device = input_ids.device
    draws = draw_rows(lengths, width, _pool(vocab_size, special_ids).numel(), seeds).to(device)
    return apply_masking(
        input_ids, draws, vocab_size=vocab_size, special_ids=special_ids, mask_id=mask_id,
        mlm_probability=mlm_probability, mask_token_fraction=mask_token_fraction,
        random_token_fraction=random_token_fraction, word_starts=word_starts, valid=real_positions(lengths, width, device),
    )
