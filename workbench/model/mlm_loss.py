"""Masked-LM loss and accuracy from vocabulary-major logits ``[V, M]`` (one column per masked position).

On CPU the decoder product ``W @ h.T`` (``[V, H] x [H, M]``) is faster than ``h @ W.T`` with the same
FLOPs, and a cross-entropy written for that layout (one ``amax``, one ``exp``, one sum; the backward
reuses the saved exponentials in place) costs less than ``log_softmax`` + ``nll_loss`` + their backward.
The loss is the mean cross-entropy over the ``M`` columns, the same value as ``F.cross_entropy`` on
``logits_t.T`` up to float rounding; ``correct`` counts the columns whose argmax (first index of the
maximum, as ``torch.argmax``) is the target.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch.nn import functional as F


class _VocabMajorCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of the columns of ``logits_t`` ``[V, M]`` (float32) against ``targets`` ``[M]``.

    Also returns (non-differentiable) the column maxima and the target logits, for the accuracy.
    """

    @staticmethod
    def forward(ctx, logits_t: torch.Tensor, targets: torch.Tensor):
        maxima = logits_t.amax(dim=0, keepdim=True)  # [1, M]
        exps = torch.sub(logits_t, maxima).exp_()  # [V, M]
        sums = exps.sum(dim=0, keepdim=True)  # [1, M]
        picked = logits_t.gather(0, targets[None, :])  # [1, M]
        loss = (maxima + sums.log() - picked).mean()
        ctx.save_for_backward(exps, sums, targets)
        ctx.mark_non_differentiable(maxima, picked)
        return loss, maxima.squeeze(0), picked.squeeze(0)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss: torch.Tensor, _grad_maxima, _grad_picked):
        exps, sums, targets = ctx.saved_tensors
        count = targets.numel()
        scale = grad_loss / count
        grad = exps.mul_(scale / sums)  # softmax * scale, in place of the saved exponentials
        grad.view(-1).index_add_(
            0, targets * count + torch.arange(count, device=targets.device), (-scale).expand(count).to(grad.dtype)
        )
        return grad, None


@torch.no_grad()
def _correct(logits_t: torch.Tensor, targets: torch.Tensor, maxima: torch.Tensor, picked: torch.Tensor) -> torch.Tensor:
    """Columns whose argmax is the target, as ``(logits_t.argmax(0) == targets).sum()`` counts them.

    A column is correct when its target logit is the maximum and no earlier index ties it. The target
    entries of the candidate columns are set to -inf for one ``amax`` pass (then put back): where the
    runner-up is below the maximum the target is the unique maximum; the rare tied columns get an exact
    ``argmax``. (``argmax`` over the vocabulary dimension of this layout is several times slower than
    ``amax``.)
    """
    columns = torch.nonzero(picked == maxima, as_tuple=False).squeeze(1)
    if columns.numel() == 0:
        return torch.zeros((), dtype=torch.long, device=logits_t.device)
    rows = targets[columns]
    top = logits_t[rows, columns]
    logits_t.index_put_((rows, columns), torch.full_like(top, float("-inf")))
    runner_up = logits_t.amax(dim=0)[columns]
    logits_t.index_put_((rows, columns), top)  # the logits are unchanged on return
    tied = columns[runner_up == top]
    correct = (runner_up < top).sum()
    if tied.numel():
        correct = correct + (logits_t.index_select(1, tied).argmax(dim=0) == targets[tied]).sum()
    return correct


def vocab_major_mlm_loss(logits_t: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(loss, correct)`` for ``logits_t`` ``[V, M]`` and ``targets`` ``[M]`` (``M > 0``); loss in float32."""
    if targets.numel() == 0:
        raise ValueError("vocab_major_mlm_loss needs at least one masked position")
    if torch.compiler.is_compiling():  # inductor fuses the plain cross-entropy itself
        loss = F.cross_entropy(logits_t.t().float(), targets)
        with torch.no_grad():
            correct = (logits_t.argmax(dim=0) == targets).sum()
        return loss, correct
    logits32 = logits_t.float().contiguous()
    loss, maxima, picked = _VocabMajorCrossEntropy.apply(logits32, targets)
    return loss, _correct(logits32, targets, maxima, picked)
