"""unpad_input / pad_input round trip and cumulative sequence lengths."""

from __future__ import annotations

import torch

from workbench.model.padding import pad_input, unpad_input, unpadding_of


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
