"""From a loader batch to a masked MLM batch, with masks seeded per (seed, epoch, sample).

Seeding each sequence by its sample id makes the masks independent of how the global
batch is split into micro-batches and processes: 1 process and N processes see the same masks.
Static masking (original BERT) reuses ``static_duplicates`` fixed maskings: the seed stream is
(seed, epoch mod duplicates, sample) instead of (seed, epoch, sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional

import torch

from workbench.objectives.config import ObjectiveConfig
from workbench.objectives.masking import generator_for, mask_tokens
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
) -> MaskedBatch:
    """Mask each sequence with its own generator (seed, epoch, sample id)."""
    input_ids = batch["input_ids"]
    epoch = int(batch["epoch"]) if epoch is None else epoch
    stream = epoch % objective.static_duplicates if objective.masking == "static" else epoch
    starts = word_boundaries(tokenizer).word_starts(input_ids) if objective.whole_word else None
    masked_rows, label_rows = [], []
    for row, sample_id in enumerate(batch["sample_ids"].tolist()):
        masked, labels = mask_tokens(
            input_ids[row : row + 1],
            vocab_size=tokenizer.vocab_size,
            special_ids=tokenizer.special_ids,
            mask_id=tokenizer.mask_id,
            generator=generator_for(seed, stream, sample_id),
            mlm_probability=objective.mlm_probability,
            mask_token_fraction=objective.mask_token_fraction,
            random_token_fraction=objective.random_token_fraction,
            word_starts=None if starts is None else starts[row : row + 1],
        )
        masked_rows.append(masked)
        label_rows.append(labels)
    return MaskedBatch(
        input_ids=torch.cat(masked_rows),
        attention_mask=batch["attention_mask"],
        labels=torch.cat(label_rows),
        token_type_ids=batch.get("token_type_ids"),
        nsp_labels=batch.get("nsp_labels") if objective.nsp else None,
        langs=batch.get("langs"),
    )
