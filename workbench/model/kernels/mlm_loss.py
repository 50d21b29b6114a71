"""Masked-LM loss kernels: ``(logits, targets) -> (loss, correct)`` from the logits at the masked positions.

``logits`` ``[W, V]`` (one row per masked position, then padding rows: the pretraining model pads its selected
positions to a few shapes), ``targets`` ``[M]`` (``0 < M <= W``). The loss is float32, the mean cross-entropy
over the ``M`` masked rows (the padding rows get no loss, no accuracy, a zero gradient); ``correct`` counts the
rows whose argmax (first index of the maximum, as ``torch.argmax``) is the target. Neither kernel writes into
``logits``.

:func:`cross_entropy_loss` is the reference (``F.cross_entropy``: fused kernels under ``torch.compile`` and on
GPUs). :func:`written_out_loss` is the CPU eager variant: one fused ``softmax`` pass, the loss read from the
target probabilities, and a backward that reuses the saved probabilities in place (``(softmax - onehot) / M``:
one scaling pass and ``M`` scattered writes). Where a target probability underflows (``p < 1e-30``, a loss
above 69 nats) that row's loss is recomputed exactly as ``logsumexp - logit``. The accuracy is read from the
same probabilities (see :func:`_correct`).

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
# Relative band around the runner-up probability inside which the accuracy is decided on the logits. exp and the
# row's common scaling keep the order of the logits up to a few float32 ulps (ATen's vectorized exp: 1-2 ulps; 1e-5 is ~80
# ulps): outside the band the probabilities order the target and the runner-up as the logits do.
_ORDER_BAND = 1e-5


def _check(logits: torch.Tensor, targets: torch.Tensor) -> None:
    count = targets.numel()
    if count == 0:
        raise ValueError("mlm_loss needs at least one masked position")
    if logits.shape[0] < count:
        raise ValueError(f"mlm_loss got {logits.shape[0]} rows of logits for {count} targets; it needs one row per target")


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Reference: ``F.cross_entropy`` over the rows (padding rows ignored), ``argmax`` for the accuracy."""
    _check(logits, targets)
    count = targets.numel()
    padded = targets
    if logits.shape[0] > count:  # padding rows are ignored: the mean is over the M targets
        padded = torch.cat([targets, targets.new_full((logits.shape[0] - count,), _IGNORE_INDEX)])
    loss = F.cross_entropy(logits.float(), padded, ignore_index=_IGNORE_INDEX)
    with torch.no_grad():
        correct = (logits[:count].argmax(dim=1) == targets).sum()
    return loss, correct


@torch.no_grad()
def _correct(probs: torch.Tensor, picked: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Rows whose argmax is the target, as ``(logits.argmax(1) == targets).sum()`` counts them.

    ``probs`` ``[M, V]`` = ``softmax(logits)`` (this kernel's own buffer, put back as it was on return),
    ``picked`` ``[M]`` the target probabilities. The target entries of ``probs`` are set to -inf for one ``amax``
    pass: a target probability above this runner-up (by more than ``_ORDER_BAND``) is the unique maximum logit,
    one below it is not the maximum; the rare rows in between get an exact ``argmax`` of their logits. (``argmax``
    costs several ``amax`` passes on CPU; every tensor here is ``[M]`` or ``[M, V]``, no shape that depends on
    the accuracy.)
    """
    rows = torch.arange(targets.numel(), device=probs.device)
    probs.index_put_((rows, targets), torch.full_like(picked, float("-inf")))
    runner_up = probs.amax(dim=1)
    probs.index_put_((rows, targets), picked)
    correct = (picked > runner_up * (1.0 + _ORDER_BAND)).sum()
    close = torch.nonzero((picked <= runner_up * (1.0 + _ORDER_BAND)) & (picked >= runner_up * (1.0 - _ORDER_BAND)),
                          as_tuple=False).squeeze(1)
    if close.numel():
        correct = correct + (logits.index_select(0, close).argmax(dim=1) == targets[close]).sum()
    return correct


class _MaskedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of the first ``M`` rows of ``logits`` ``[W, V]`` (float32) against ``targets`` ``[M]``
    and the accuracy count; rows ``M:`` are padding (zero gradient)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor):
        count = targets.numel()
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
        correct = _correct(probs[:count], picked, logits[:count], targets)
        ctx.save_for_backward(probs, targets)
        ctx.mark_non_differentiable(correct)
        return losses.mean(), correct

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss: torch.Tensor, _grad_correct):
        probs, targets = ctx.saved_tensors  # a second backward through the same graph fails: probs were modified
        count, vocab = targets.numel(), probs.shape[1]
        scale = grad_loss / count
        grad = probs.mul_(scale)  # softmax * scale, in place of the saved probabilities
        grad[count:].zero_()  # padding rows
        grad.view(-1).index_add_(
            0, torch.arange(count, device=targets.device) * vocab + targets, (-scale).expand(count).to(grad.dtype)
        )
        return grad, None


def written_out_loss(logits: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """CPU eager variant of :func:`cross_entropy_loss` (module doc)."""
    _check(logits, targets)
    return _MaskedCrossEntropy.apply(logits.float().contiguous(), targets)
