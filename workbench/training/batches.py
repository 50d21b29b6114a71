"""From a loader batch to a masked MLM batch, with masks seeded per sequence.

Dynamic masking (RoBERTa) seeds each row by (seed, epoch, global stream position); static masking
(original BERT) by (seed, epoch mod duplicates, sample id), i.e. ``static_duplicates`` fixed maskings.
Either key is independent of how the global batch is split into micro-batches and processes:
1 process and N processes see the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional

import torch

from workbench.objectives.config import ObjectiveConfig
from workbench.objectives.masking import mask_sequences, masking_seed
from workbench.objectives.words import WordBoundaries
from workbench.tokenization.tokenizer import Tokenizer


@dataclass
class MaskedBatch:
    input_ids: torch.Tensor  # [B, T] with masked positions replaced
    attention_mask: torch.Tensor  # [B, T] bool
    labels: torch.Tensor  # [B, T] original ids at masked positions, -100 elsewhere
    token_type_ids: Optional[torch.Tensor] = None
    nsp_labels: Optional[torch.Tensor] = None
    langs: Optional[torch.Tensor] = None

    @property
    def mlm_count(self) -> int:
        return int((self.labels != -100).sum())

    def to(self, device: torch.device) -> "MaskedBatch":
        def move(t):
            return None if t is None else t.to(device, non_blocking=True)

        return MaskedBatch(*(move(getattr(self, name)) for name in
                             ("input_ids", "attention_mask", "labels", "token_type_ids", "nsp_labels", "langs")))


@lru_cache(maxsize=8)
def word_boundaries(tokenizer: Tokenizer) -> WordBoundaries:
    """Per-id word-start tables of the tokenizer's vocabulary (its algorithm names the convention)."""
    tokens = [tokenizer.id_to_token(token_id) or "" for token_id in range(tokenizer.vocab_size)]
    return WordBoundaries.from_vocab(tokens, tokenizer.algorithm, tokenizer.special_ids)


def mask_batch(
    batch: Dict[str, torch.Tensor],
    tokenizer: Tokenizer,
    objective: ObjectiveConfig,
    seed: int,
    epoch: Optional[int] = None,
    samples_per_epoch: Optional[int] = None,
) -> MaskedBatch:
    """Mask each sequence with its own seed: (seed, epoch, stream position), or (seed, duplicate, sample id) when static.

    Only a row's real tokens are masked: its random draws cover the sequence, not the batch width, so a
    sample's mask does not depend on which batch it lands in, nor on how long the other sequences of that
    batch are (1 process and N processes pad differently). The draws are per row (three calls of a seeded
    generator), the masking itself one vectorized pass over the batch (``mask_sequences``).

    ``epoch``: one masking stream for the whole batch (validation). Otherwise each row's epoch is its stream
    position // ``samples_per_epoch`` (the split's size), so a batch that straddles an epoch boundary masks each
    row as a batch of its own epoch would; without ``samples_per_epoch``, the batch's ``epoch`` (where it starts).
    """
    input_ids = batch["input_ids"]
    if epoch is not None:
        epochs = [int(epoch)] * input_ids.shape[0]
    elif samples_per_epoch is not None:
        epochs = (batch["positions"] // int(samples_per_epoch)).tolist()
    else:
        epochs = [int(batch["epoch"])] * input_ids.shape[0]
    # Static masking: a fixed mask per (sequence, duplicate). Dynamic: a fresh mask per draw of the stream,
    # keyed by the global stream position, so a sequence drawn twice in an epoch (language resampling)
    # gets two masks, and the key is the same whatever the split into micro-batches and processes.
    static = objective.masking == "static"
    streams = [e % objective.static_duplicates for e in epochs] if static else epochs
    keys = batch["sample_ids"] if static else batch["positions"]
    starts = word_boundaries(tokenizer).word_starts(input_ids) if objective.whole_word else None
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    masked_ids, labels = mask_sequences(
        input_ids,
        lengths,
        [masking_seed(seed, stream, key) for stream, key in zip(streams, keys.tolist())],
        vocab_size=tokenizer.vocab_size,
        special_ids=tokenizer.special_ids,
        mask_id=tokenizer.mask_id,
        mlm_probability=objective.mlm_probability,
        mask_token_fraction=objective.mask_token_fraction,
        random_token_fraction=objective.random_token_fraction,
        word_starts=starts,
    )
    return MaskedBatch(
        input_ids=masked_ids,
        attention_mask=batch["attention_mask"],
        labels=labels,
        token_type_ids=batch.get("token_type_ids"),
        nsp_labels=batch.get("nsp_labels") if objective.nsp else None,
        langs=batch.get("langs"),
    )
