"""Validation of a pretraining run: MLM loss, perplexity and accuracy on fixed held-out batches.

The held-out batches are read once (``trainer.eval_batches`` micro-batches over all processes: the same sequences
whatever the world size) and masked with their own seed stream (``VALIDATION_EPOCH``), so every validation of a run,
and of a resumed run, sees the same masked tokens.
"""

from __future__ import annotations

import math
from typing import Dict, List

import torch

from workbench.corpus.loader import BatchLoader
from workbench.corpus.shards import ShardSet
from workbench.hardware.precision import PrecisionPolicy
from workbench.objectives.config import ObjectiveConfig
from workbench.tokenization.tokenizer import Tokenizer
from workbench.training.batches import MaskedBatch, mask_batch
from workbench.training.distributed import Runtime, all_reduce_min, all_reduce_sum
from workbench.training.train_step import forward

VALIDATION_EPOCH = 1_000_003  # masking seed stream of validation batches, distinct from training epochs


def validation_batches(shards: ShardSet, tokenizer: Tokenizer, objective: ObjectiveConfig, micro_batch_size: int,
                       eval_batches: int, seed: int, runtime: Runtime, sharded: bool) -> List[MaskedBatch]:
    """This process's share of the held-out micro-batches, masked; empty without a ``valid`` split."""
    if len(shards.split("valid")) == 0:
        return []
    valid_loader = BatchLoader(
        shards.split("valid"), micro_batch_size, seed=seed, rank=runtime.rank,
        world_size=runtime.world_size, pad_id=tokenizer.pad_id, shuffle=False, num_epochs=1,
    )
    per_rank = -(-eval_batches // runtime.world_size)
    batches = [mask_batch(batch, tokenizer, objective, seed=seed, epoch=VALIDATION_EPOCH)
               for _, batch in zip(range(per_rank), valid_loader)]
    if sharded:  # every process must run the same number of sharded forwards
        batches = batches[: all_reduce_min(len(batches), runtime)]
    return batches


@torch.no_grad()
def validate(model, batches: List[MaskedBatch], runtime: Runtime, policy: PrecisionPolicy) -> Dict[str, float]:
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=runtime.device)  # loss sum, correct, count: one transfer at the end
    for batch in batches:
        out = forward(model, batch, runtime, policy)
        count = out.mlm_count.double()
        sums += torch.stack([out.mlm_loss.detach().double() * count, out.mlm_correct.double(), count])
    model.train(was_training)
    totals = all_reduce_sum(sums.cpu(), runtime)
    loss = float(totals[0] / totals[2].clamp(min=1))
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "mlm_accuracy": float(totals[1] / totals[2].clamp(min=1))}


class Validator:
    """``validate`` on the run's held-out batches every ``every`` steps and at the last step."""

    def __init__(self, batches: List[MaskedBatch], every: int, runtime: Runtime, policy: PrecisionPolicy) -> None:
        self.batches, self.every, self.runtime, self.policy = batches, every, runtime, policy

    def due(self, step: int, last_step: int) -> bool:
        return bool(self.batches) and (step % self.every == 0 or step == last_step)

    def __call__(self, model) -> Dict[str, float]:
        return validate(model, self.batches, self.runtime, self.policy)
