"""unpad_input / pad_input round trip and cumulative sequence lengths; the batch layout values."""

from __future__ import annotations

import pytest
import torch

from workbench.model.padding import Padded, Unpadded, batch_layout, pad_input, unpad_input, unpadding_of


def test_round_trip_and_cu_seqlens():
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
    hidden = torch.randn(4, 5, 3, requires_grad=True)
    tokens, indices, cu_seqlens, max_seqlen = unpad_input(hidden, mask)
    assert tokens.shape == (9, 3)
    assert indices.tolist() == [0, 1, 2, 5, 6, 7, 8, 9, 10]
    assert cu_seqlens.dtype == torch.int32 and cu_seqlens.tolist() == [0, 3, 8, 9, 9]
    assert max_seqlen == 5
    back = pad_input(tokens, indices, 4, 5)
    keep = mask.bool()
    assert torch.equal(back[keep], hidden[keep])
    assert (back[~keep] == 0).all()
    back.sum().backward()  # differentiable both ways
    assert torch.equal(hidden.grad, keep[..., None].float().expand(4, 5, 3))


def test_non_contiguous_mask_and_integer_payload():
    mask = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 1]])
    ids = torch.arange(8).view(2, 4)
    tokens, indices, cu, _ = unpad_input(ids, mask)
    assert tokens.tolist() == [1, 3, 4, 6, 7]
    assert cu.tolist() == [0, 2, 5]
    assert torch.equal(pad_input(tokens, indices, 2, 4), ids * mask)
    plan = unpadding_of(mask)
    assert (plan.batch, plan.seqlen, plan.max_seqlen) == (2, 4, 3)


def test_batch_layout_round_trip_and_choices():
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]])
    hidden = torch.randn(3, 5, 4)
    unpadded = batch_layout(mask, padding_free=True, skip_full_mask=True)
    assert isinstance(unpadded, Unpadded)
    assert unpadded.cu_seqlens.tolist() == [0, 3, 8, 10] and unpadded.max_seqlen == 5
    assert torch.equal(unpadded.attn_mask, mask.bool()[:, None, None, :])  # for kernels that re-pad
    tokens = unpadded.tokens(hidden)
    assert tokens.shape == (10, 4) and unpadded.tokens(None) is None
    back = unpadded.padded(tokens)
    assert torch.equal(back[mask.bool()], hidden[mask.bool()]) and (back[~mask.bool()] == 0).all()
    assert torch.equal(unpadded.tokens(back), tokens)  # the round trip in both directions
    padded = batch_layout(mask, padding_free=False, skip_full_mask=True)
    assert isinstance(padded, Padded) and torch.equal(padded.attn_mask, mask.bool()[:, None, None, :])
    assert padded.tokens(hidden) is hidden and padded.padded(hidden) is hidden
    full = torch.ones(2, 5, dtype=torch.long)
    assert batch_layout(full, padding_free=True, skip_full_mask=True) == Padded(None)  # nothing to unpad or mask
    kept = batch_layout(full, padding_free=True, skip_full_mask=False)  # compiled: no data-dependent shortcut
    assert isinstance(kept, Unpadded) and kept.indices.tolist() == list(range(10))
    bias = torch.zeros(2, 1, 5, 5)
    assert batch_layout(bias, padding_free=True, skip_full_mask=True).attn_mask is bias  # 4-D masks stay padded
    with pytest.raises(ValueError, match="attention_mask must be"):
        batch_layout(torch.ones(5, dtype=torch.long), padding_free=False, skip_full_mask=True)
