"""Masked-LM loss and accuracy from the logits at the masked positions ``[M, V]`` (one row per masked position).

The logits may carry padding rows after the ``M`` masked ones (``[W, V]``, ``W >= M``: the pretraining model
pads its selected positions to a few shapes): they get no loss, no accuracy and a zero gradient.

On CPU a cross-entropy written for this case costs less than ``log_softmax`` + ``nll_loss`` + their
backward: one fused ``softmax`` pass, the loss read from the target probabilities, and a backward that
reuses the saved probabilities in place (``(softmax - onehot) / M``: one scaling pass and ``M`` scattered
writes). Where a target probability underflows (``p < 1e-30``, a loss above 69 nats) that row's loss is
recomputed exactly as ``logsumexp - logit``. The loss is the mean cross-entropy over the ``M`` rows, the
same value as ``F.cross_entropy`` up to float rounding; ``correct`` counts the rows whose argmax (first
index of the maximum, as ``torch.argmax``) is the target. Other devices and ``torch.compile`` use
``F.cross_entropy`` (fused kernels there).

The logits are ``h @ W.T`` (row-major): on this project's CPU (AVX2, MKL) the forward product and both
gradient products of that layout take 17-35% less time than those of the vocabulary-major ``W @ h.T``, and
the row reductions (max, sum) are contiguous.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch.nn import functional as F

_IGNORE_INDEX = -100
_SMALLEST_EXACT_PROBABILITY = 1e-30  # a normal float32: -log(p) keeps float32 precision above it


class _MaskedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of the first ``M`` rows of ``logits`` ``[W, V]`` (float32) against ``targets`` ``[M]``;
    rows ``M:`` are padding (zero gradient)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # [W, V]: max, sum of exponentials and scaling, fused per row; the padding rows too (a few rows),
        # so that the backward writes the whole gradient in place of these probabilities
        probs = torch.softmax(logits, dim=1)
        picked = probs.gather(1, targets[:, None]).squeeze(1)  # [M] (gather reads the first M rows)
        losses = picked.log().neg_()
        underflow = torch.nonzero(picked < _SMALLEST_EXACT_PROBABILITY, as_tuple=False).squeeze(1)
        if underflow.numel():
            rows = logits.index_select(0, underflow)
            exact = torch.logsumexp(rows, dim=1) - rows.gather(1, targets[underflow][:, None]).squeeze(1)
            losses.index_copy_(0, underflow, exact)
        ctx.save_for_backward(probs, targets)
        return losses.mean()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss: torch.Tensor):
        probs, targets = ctx.saved_tensors  # a second backward through the same graph fails: probs were modified
        count, vocab = targets.numel(), probs.shape[1]
        scale = grad_loss / count
        grad = probs.mul_(scale)  # softmax * scale, in place of the saved probabilities
        grad[count:].zero_()  # padding rows
        grad.view(-1).index_add_(
            0, torch.arange(count, device=targets.device) * vocab + targets, (-scale).expand(count).to(grad.dtype)
        )
        return grad, None


@torch.no_grad()
def _correct(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Rows whose argmax is the target, as ``(logits.argmax(1) == targets).sum()`` counts them.

    A row is correct when its target logit is above every other logit, or ties the maximum with no earlier
    index. The target entries are set to -inf for one ``amax`` pass (then put back): a target above this
    runner-up is the unique maximum; the rare tied rows get an exact ``argmax``. (``argmax`` costs several
    ``amax`` passes on CPU; every tensor here is ``[M]`` or ``[M, V]``, no shape that depends on the accuracy.)
    """
    rows = torch.arange(targets.numel(), device=logits.device)
    picked = logits.gather(1, targets[:, None]).squeeze(1)
    logits.index_put_((rows, targets), torch.full_like(picked, float("-inf")))
    runner_up = logits.amax(dim=1)
    logits.index_put_((rows, targets), picked)  # the logits are unchanged on return
    correct = (picked > runner_up).sum()
    tied = torch.nonzero(picked == runner_up, as_tuple=False).squeeze(1)
    if tied.numel():
        correct = correct + (logits.index_select(0, tied).argmax(dim=1) == targets[tied]).sum()
    return correct


def mlm_loss(logits: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(loss, correct)`` for ``logits`` ``[W, V]`` and ``targets`` ``[M]`` (``0 < M <= W``; rows ``M:`` are
    padding); loss in float32: the mean over the ``M`` masked rows."""
    count = targets.numel()
    if count == 0:
        raise ValueError("mlm_loss needs at least one masked position")
    if logits.shape[0] < count:
        raise ValueError(f"mlm_loss got {logits.shape[0]} rows of logits for {count} targets; it needs one row per target")
    if logits.device.type != "cpu" or torch.compiler.is_compiling():  # fused kernels there
        padded = targets
        if logits.shape[0] > count:  # padding rows are ignored: the mean is over the M targets
            padded = torch.cat([targets, targets.new_full((logits.shape[0] - count,), _IGNORE_INDEX)])
        loss = F.cross_entropy(logits.float(), padded, ignore_index=_IGNORE_INDEX)
        with torch.no_grad():
            correct = (logits[:count].argmax(dim=1) == targets).sum()
        return loss, correct
    logits32 = logits.float().contiguous()
    return _MaskedCrossEntropy.apply(logits32, targets), _correct(logits32[:count], targets)
