"""Padded selections: the pretraining step sees a handful of shapes, with the loss and gradients of the unpadded step.

The selected positions (masked tokens, plus each row's first token with NSP) are padded with unused positions to a
multiple of ``SELECTION_MULTIPLE`` (16); the padding rows reach no loss, no accuracy and no gradient.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from tests.model.conftest import tiny_config
from workbench.model.kernels.mlm_loss import written_out_loss as mlm_loss
from workbench.model.pretraining import SELECTION_MULTIPLE, PretrainingModel
from workbench.model.selection import Selection, pad_selection, padded_count


def _labels(ids, rate, generator):
    return torch.where(torch.rand(ids.shape, generator=generator) < rate, ids, torch.full_like(ids, -100))


def test_pad_selection_adds_unselected_positions_spread_over_the_rows():
    g = torch.Generator().manual_seed(0)
    chosen = torch.rand(8, 32, generator=g) < 0.15
    padded = pad_selection(chosen, 64)
    count, added = int(chosen.sum()), int(padded.sum()) - int(chosen.sum())
    assert int(padded.sum()) % 64 == 0 and 0 < added < 64
    assert bool(padded[chosen].all())  # nothing selected is dropped
    per_row = (padded & ~chosen).sum(dim=1)
    assert int(per_row.max()) <= -(-added // 8)  # at most ceil(added / B) per row
    assert torch.equal(pad_selection(chosen, 1), chosen) and count > 0
    assert int(pad_selection(torch.ones(2, 20, dtype=torch.bool), 64).sum()) == 40  # capped at B * T
    assert int(pad_selection(torch.zeros(2, 20, dtype=torch.bool), 64).sum()) == 0  # nothing to pad


def test_selection_rounds_the_widest_row_up_to_a_multiple_of_8():
    positions = torch.tensor([0, 1, 2, 17, 20])
    assert Selection.of(positions, batch=2, seqlen=16).max_per_row == 8
    assert Selection.of(positions, batch=2, seqlen=6).max_per_row == 6  # capped at the sequence length


def test_mlm_loss_ignores_padding_rows():
    g = torch.Generator().manual_seed(5)
    logits = (torch.randn(64, 301, generator=g) * 3).requires_grad_()
    targets = torch.randint(0, 301, (41,), generator=g)
    targets[::3] = logits.detach()[:41:3].argmax(-1)
    loss, correct = mlm_loss(logits, targets)
    (grad,) = torch.autograd.grad(loss * 2.0, logits)
    reference = F.cross_entropy(logits[:41], targets)
    (expected,) = torch.autograd.grad(reference * 2.0, logits)
    # the same float32 operations on the same rows, only the mean's and the softmax's rounding differ
    torch.testing.assert_close(loss, reference, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grad, expected, atol=1e-7, rtol=1e-5)
    assert torch.equal(grad[41:], torch.zeros_like(grad[41:]))
    assert int(correct) == int((logits[:41].argmax(-1) == targets).sum())
    with pytest.raises(ValueError, match="40 rows of logits for 41 targets"):
        mlm_loss(logits[:40], targets)


@pytest.mark.parametrize("nsp", [False, True])
def test_padded_step_has_the_loss_and_gradients_of_the_unpadded_step(nsp):
    config = tiny_config(dropout=0.0, attention_dropout=0.0)  # dropout draws depend on the shapes
    torch.manual_seed(0)
    padded = PretrainingModel(config, nsp=nsp).train()
    plain = PretrainingModel(config, nsp=nsp, pad_to=1).train()
    plain.load_state_dict(padded.state_dict())
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(5, config.vocab_size, (6, 24), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 17:] = 0
    labels = _labels(ids, 0.2, g).masked_fill(mask == 0, -100)
    nsp_labels = torch.tensor([0, 1, 0, 1, 1, 0]) if nsp else None
    outs, grads = [], []
    for model in (padded, plain):
        out = model(ids, mask, labels, nsp_labels=nsp_labels)
        outs.append(out)
        grads.append(torch.autograd.grad(out.loss, [p for p in model.parameters()], allow_unused=True))
    ours, reference = outs
    assert ours.mlm_count == reference.mlm_count == int((labels != -100).sum())
    assert int(ours.mlm_correct) == int(reference.mlm_correct)
    assert ours.mlm_logits.shape == reference.mlm_logits.shape  # padding rows are not returned
    # Same float32 ops on the same rows; the padded matmuls may block their reductions differently (and sum
    # exact zeros from the padding rows): float32 rounding, ~1e-7 relative per op, a few ops deep.
    torch.testing.assert_close(ours.loss, reference.loss, atol=0.0, rtol=1e-6)
    torch.testing.assert_close(ours.mlm_logits, reference.mlm_logits, atol=1e-6, rtol=1e-5)
    for (name, _), a, b in zip(padded.named_parameters(), *grads):
        scale = float(b.abs().max())
        torch.testing.assert_close(a, b, atol=1e-5 * scale, rtol=1e-5, msg=name)


class _Shapes(TorchDispatchMode):
    """The shapes of the tensors the ops of a forward+backward allocate (views and in-place results left out).

    Tensors under 1024 elements (the [M] index and loss vectors) are left out: they come from the allocator's
    small-block bins, whose memory is reused whatever the size."""

    SMALL = 1024

    def __init__(self) -> None:
        super().__init__()
        self.shapes = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = [a for a in [*args, *(kwargs or {}).values()] if isinstance(a, torch.Tensor)]
        storages = {a.untyped_storage().data_ptr() for a in inputs if a.layout == torch.strided}
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor) and t.layout == torch.strided and t.untyped_storage().data_ptr() not in storages:
                if t.numel() >= self.SMALL:
                    self.shapes.add(tuple(t.shape))
        return out


def _step_shapes(pad_to: int, steps: int = 30):
    config = tiny_config(vocab_size=1000, max_positions=64)
    torch.manual_seed(0)
    model = PretrainingModel(config, pad_to=pad_to).train()
    g = torch.Generator().manual_seed(11)
    signatures, logit_rows, masked_counts = set(), set(), set()
    for _ in range(steps):
        ids = torch.randint(5, config.vocab_size, (8, 64), generator=g)
        labels = _labels(ids, 0.15, g)  # about 77 masked positions, varying from step to step
        masked_counts.add(int((labels != -100).sum()))
        with _Shapes() as mode:
            model(ids, None, labels).loss.backward()
        signatures.add(frozenset(mode.shapes))
        # [W, V] logits and their gradient; the transposed decoder weight [H, V] and the bias gradient's [1, V] sum left out
        logit_rows |= {shape[0] for shape in mode.shapes if len(shape) == 2 and shape[1] == config.vocab_size} - {1, config.hidden_size}
    return signatures, logit_rows, masked_counts


@pytest.mark.parametrize("pad_to", [SELECTION_MULTIPLE, 64])
def test_padded_steps_see_a_handful_of_shapes(pad_to):
    signatures, logit_rows, counts = _step_shapes(pad_to)
    plain_signatures, plain_rows, plain_counts = _step_shapes(pad_to=1)
    assert counts == plain_counts and len(counts) >= 15  # the same masks, about one new masked count per step
    assert plain_rows == counts and len(plain_signatures) >= 15  # unpadded: one logits shape per masked count
    # padded: one logits shape per multiple of pad_to reached, times at most two widths of the last layer's query
    # block (multiples of 8)
    assert logit_rows == {padded_count(count, pad_to, 8 * 64) for count in counts}, logit_rows
    assert len(logit_rows) <= 64 // pad_to + 2 and len(signatures) <= 2 * len(logit_rows), (logit_rows, len(signatures))
