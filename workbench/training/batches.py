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
def _word_tables(tokenizer: Tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Per vocabulary id: does this token start a word / does it glue the next token to itself.

    WordPiece: continuation pieces start with ``##``. SentencePiece: word-initial pieces start with
    ``▁``. Byte-level BPE: word-initial tokens start with ``Ġ``. Moses+BPE: a token ending in ``@@``
    continues into the next one. Special tokens are their own words.
    """
    size = tokenizer.vocab_size
    starts = torch.ones(size, dtype=torch.bool)
    glues_next = torch.zeros(size, dtype=torch.bool)
    for token_id in range(size):
        token = tokenizer.id_to_token(token_id) or ""
        if token_id in tokenizer.special_ids:
            continue
        if tokenizer.algorithm == "wordpiece":
            starts[token_id] = not token.startswith("##")
        elif tokenizer.algorithm.startswith("sentencepiece"):
            starts[token_id] = token.startswith("▁")
        elif tokenizer.algorithm == "byte_bpe":
            starts[token_id] = token.startswith("Ġ")
        elif tokenizer.algorithm == "moses_bpe":
            glues_next[token_id] = token.endswith("@@")
    return starts, glues_next


def word_starts(input_ids: torch.Tensor, tokenizer: Tokenizer) -> torch.Tensor:
    """[B, T] bool: True where a token begins a word (whole-word masking groups the rest with it)."""
    starts, glues_next = _word_tables(tokenizer)
    result = starts[input_ids]
    if tokenizer.algorithm == "moses_bpe":
        previous_glues = torch.zeros_like(result)
        previous_glues[:, 1:] = glues_next[input_ids[:, :-1]]
        result = ~previous_glues
    return result


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
    starts = word_starts(input_ids, tokenizer) if objective.whole_word else None
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
