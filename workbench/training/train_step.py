"""The optimizer step both training stacks take, under the precision policy (``workbench.hardware.precision``).

One update is: ``backward`` of each (micro-batch) loss through the loss scaler, a finiteness check of the step's
loss (``BadSteps``), then ``apply_update``: unscale, clip (or measure) the gradients, optimizer step, scaler update,
scheduler step, gradients cleared. With fp32/bf16 the scaler is disabled and this is exactly ``loss.backward()``,
``clip_grad_norm_``, ``optimizer.step()``.

Non-finite losses, one rule: the update is skipped (gradients cleared, nothing stepped) and counted; ``limit``
consecutive ones stop training with the stack's error. Pretraining's limit is ``trainer.max_bad_steps``; fine-tuning's is 1 (its
first non-finite loss stops the job, as it always did).

``pretraining_step`` is pretraining's step over its micro-batches (gradient accumulation, DDP/FSDP) built on these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Optional

import torch

from workbench.hardware.precision import PrecisionPolicy
from workbench.training.batches import MaskedBatch
from workbench.training.distributed import Runtime, all_reduce_sum

from workbench.training.strategy import Replicated

if TYPE_CHECKING:  # annotation only (the state holds a BadSteps)
    from workbench.training.state import TrainState


def backward(loss: torch.Tensor, scaler: torch.amp.GradScaler) -> None:
    """Accumulate the gradients of ``loss`` (scaled for fp16)."""
    scaler.scale(loss).backward()


def apply_update(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                 gradients: Optional[Callable[[], Optional[torch.Tensor]]] = None,
                 scheduler: Optional[torch.optim.lr_scheduler.LRScheduler] = None):
    """One optimizer update from the accumulated gradients; ``gradients`` runs on the unscaled gradients before the
    step (clipping them and/or measuring their norm) and its result is returned."""
    scaler.unscale_(optimizer)
    norm = gradients() if gradients is not None else None
    scaler.step(optimizer)
    scaler.update()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return norm


@dataclass
class BadSteps:
    """Consecutive non-finite losses: ``skip(loss)`` counts them (a finite loss resets the count) and says whether
    this step's update is skipped; once ``exhausted`` (``limit`` in a row) the caller raises its stack's error."""

    limit: int
    count: int = 0  # consecutive non-finite losses so far (a checkpoint records it)

    def skip(self, loss: Optional[float | torch.Tensor]) -> bool:
        finite = loss is not None and (math.isfinite(loss) if isinstance(loss, float) else bool(torch.isfinite(loss)))
        if finite:
            self.count = 0
            return False
        self.count += 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.count >= self.limit


@dataclass
class StepOutcome:
    """One pretraining step's global numbers (all processes), read on the host once per step."""

    loss: float  # the global batch's loss (MLM sum / masked tokens, + NSP)
    correct: float  # correctly predicted masked tokens
    masked: float  # masked tokens (at least 1)
    stop_requested: bool  # any process got a stop signal
    applied: bool = False  # False: non-finite loss, update skipped
    grad_norm: Optional[torch.Tensor | float] = None  # before clipping; None when neither clipped nor measured
    lr: float = 0.0  # the rate this update was taken with


def forward(model, batch: MaskedBatch, runtime: Runtime, policy: PrecisionPolicy):
    """The pretraining model's forward pass on one masked batch, on the device, under autocast."""
    batch = batch.to(runtime.device)
    with policy.autocast():
        return model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            labels=batch.labels,
            token_type_ids=batch.token_type_ids,
            nsp_labels=batch.nsp_labels,
            langs=batch.langs,
        )


def pretraining_step(state: TrainState, train_model, micro: List[MaskedBatch], strategy: Replicated, runtime: Runtime,
                     policy: PrecisionPolicy, grad_clip: float, measure_norm: bool, stop_requested: bool) -> StepOutcome:
    """Forward and backward of the step's micro-batches (gradient accumulation), then the update unless the loss is
    not finite (``StepOutcome.applied``; the caller counts it). The MLM loss is the sum over masked tokens divided by
    the masked tokens of the whole global batch: 1 process and N processes give the same loss and update."""
    local_masked = sum(int(b.mlm_count) for b in micro)
    local_sequences = sum(b.input_ids.shape[0] for b in micro)
    counts = all_reduce_sum(torch.tensor([local_masked, local_sequences], dtype=torch.float64), runtime)
    global_masked, global_sequences = max(float(counts[0]), 1.0), float(counts[1])

    # The step's loss and correct count stay on the device until one transfer after the last micro-batch
    # (no host sync per micro-batch); float64 sums of the float32 losses, as the logged loss always was.
    loss_total = torch.zeros((), dtype=torch.float64, device=runtime.device)
    correct_total = torch.zeros((), dtype=torch.float64, device=runtime.device)
    for index, batch in enumerate(micro):
        with strategy.accumulating(train_model, last_micro_batch=index == len(micro) - 1):
            out = forward(train_model, batch, runtime, policy)
            # Sum of token losses / global masked count; DDP and FSDP average gradients over ranks.
            loss = out.mlm_loss * (out.mlm_count / global_masked) * runtime.world_size
            if out.nsp_loss is not None:
                loss = loss + out.nsp_loss * (batch.input_ids.shape[0] / global_sequences) * runtime.world_size
            backward(loss, state.scaler)
        loss_total += loss.detach().double() / runtime.world_size
        correct_total += out.mlm_correct.double()
    # a stop signal counts when any process got it, so that all stop (and save) at the same step
    sums = torch.stack([loss_total, correct_total]).cpu()
    totals = all_reduce_sum(torch.cat([sums, torch.tensor([float(stop_requested)], dtype=torch.float64)]), runtime)
    outcome = StepOutcome(float(totals[0]), float(totals[1]), global_masked, bool(totals[2] > 0))
    if state.bad_steps.skip(outcome.loss):
        state.optimizer.zero_grad(set_to_none=True)
        return outcome

    def gradients():  # the norm before clipping: clipping computes it anyway, else only when logged
        if grad_clip > 0:
            return strategy.clip_gradients(state.model, grad_clip)
        return strategy.gradient_norm(state.model) if measure_norm else None

    outcome.lr = state.optimizer.param_groups[0]["lr"]
    outcome.grad_norm = apply_update(state.optimizer, state.scaler, gradients, state.scheduler)
    outcome.applied = True
    state.step += 1
    return outcome
