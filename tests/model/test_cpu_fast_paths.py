"""The CPU fast paths of the pretraining step compute what the plain torch ops compute.

the written-out MLM loss vs ``F.cross_entropy`` (value, gradient, accuracy with ties); uniform-draw
dropout (distribution, scaling, gradient); written-out attention vs ``scaled_dot_product_attention``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from tests.model.conftest import masked_ids, tiny_config
from workbench.model.dropout import Dropout
from workbench.model.kernels.attention import composite_attention
from workbench.model.kernels.attention import cpu_attention as attention
from workbench.model.kernels.dropout import uniform_dropout as dropout
from workbench.model.kernels.mlm_loss import written_out_loss as mlm_loss
from workbench.model.pretraining import PretrainingModel

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default
# Tolerances: rewritten CPU kernels against torch's, float32, values of scale 1e-3 to 8; measured differences at most
# 6 float32 eps of each tensor's scale on AVX-512, AVX2 and scalar kernels, a tenth or less of what the elementwise
# atol/rtol below allow.


@pytest.mark.parametrize("vocab, count", [(97, 1), (97, 40), (3001, 300)])
def test_mlm_loss_and_gradient_equal_cross_entropy(vocab, count):
    g = torch.Generator().manual_seed(vocab + count)
    logits = (torch.randn(count, vocab, generator=g) * 4).requires_grad_()
    targets = torch.randint(0, vocab, (count,), generator=g)
    targets[::2] = logits.detach()[::2].argmax(-1)  # half of the positions predicted right
    reference = F.cross_entropy(logits, targets)
    (expected_grad,) = torch.autograd.grad(reference * 3.0, logits)

    ours = logits.detach().clone().requires_grad_()
    loss, correct = mlm_loss(ours, targets)
    (grad,) = torch.autograd.grad(loss * 3.0, ours)
    torch.testing.assert_close(loss, reference, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grad, expected_grad, atol=1e-7, rtol=1e-5)
    assert int(correct) == int((logits.argmax(-1) == targets).sum())


def test_mlm_loss_of_underflowing_target_probabilities_is_exact():
    # targets 200 and 400 nats below the maximum: their softmax probability is 0 in float32
    logits = torch.zeros(3, 50)
    logits[0, 7], logits[1, 3], logits[2, 9] = 200.0, 400.0, 2.0
    targets = torch.tensor([1, 2, 9])
    leaf = logits.clone().requires_grad_()
    loss, correct = mlm_loss(leaf, targets)
    reference = F.cross_entropy(logits.double(), targets)  # (200 + 400 + small) / 3
    assert torch.isfinite(loss) and abs(float(loss.detach()) - float(reference)) < 1e-4
    (grad,) = torch.autograd.grad(loss, leaf)
    (expected,) = torch.autograd.grad(F.cross_entropy(leaf, targets), leaf)
    torch.testing.assert_close(grad, expected, atol=1e-7, rtol=1e-5)
    assert int(correct) == 1


def test_mlm_loss_accuracy_follows_argmax_on_ties():
    # row 0: target 3 ties the maximum with index 1 -> argmax is 1: wrong
    # row 1: target 1 ties the maximum with index 4 -> argmax is 1: right
    # row 2: target 2 is the unique maximum: right; row 3: target below the maximum: wrong
    logits = torch.zeros(4, 6)
    logits[0, [1, 3]] = 5.0
    logits[1, [1, 4]] = 7.0
    logits[2, 2] = 1.0
    logits[3, 0] = 2.0
    targets = torch.tensor([3, 1, 2, 5])
    before = logits.clone()
    loss, correct = mlm_loss(logits, targets)
    assert int(correct) == int((logits.argmax(-1) == targets).sum()) == 2
    assert torch.equal(logits, before)  # the accuracy pass leaves the logits as they were
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets))


def test_mlm_loss_of_bf16_logits_is_float32():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(50, 8, generator=g).to(torch.bfloat16)
    targets = torch.randint(0, 50, (8,), generator=g)
    loss, _ = mlm_loss(logits.t(), targets)  # non-contiguous input is fine
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, F.cross_entropy(logits.t().float(), targets))


def test_mlm_loss_refuses_a_second_backward_through_the_same_graph():
    logits = torch.randn(4, 10, requires_grad=True)
    loss, _ = mlm_loss(logits, torch.tensor([1, 2, 3, 4]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_pretraining_step_gradients_equal_plain_cross_entropy():
    """Every parameter gradient of the CPU path (written-out loss) equals the one of F.cross_entropy on [M, V] logits."""
    config = tiny_config(dropout=0.0, attention_dropout=0.0)
    torch.manual_seed(0)
    model = PretrainingModel(config).train()
    ids, labels = masked_ids(config, seed=3)
    out = model(ids, None, labels)
    fast = torch.autograd.grad(out.loss, list(model.parameters()))
    selected = labels.reshape(-1) != -100
    hidden = model.encoder(ids).reshape(-1, config.hidden_size)[selected]
    plain = F.cross_entropy(model.mlm_head(hidden), labels.reshape(-1)[selected])
    reference = torch.autograd.grad(plain, list(model.parameters()))
    torch.testing.assert_close(out.loss, plain, atol=1e-6, rtol=1e-6)
    for (name, _), a, b in zip(model.named_parameters(), fast, reference):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


def test_dropout_keeps_each_element_with_probability_1_minus_p_and_rescales():
    torch.manual_seed(0)
    p, n = 0.1, 200_000
    x = torch.full((n,), 2.0, requires_grad=True)
    y = dropout(x, p, training=True)
    kept = y != 0
    # binomial(n, 0.9): standard deviation sqrt(n p (1 - p)) = 134; 5 sigma
    assert abs(int(kept.sum()) - n * (1 - p)) < 5 * math.sqrt(n * p * (1 - p))
    assert torch.equal(y[kept], torch.full_like(y[kept], 2.0 / (1 - p)))
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(grad, kept.float() / (1 - p))  # the same mask scales the gradient
    # independent draws: neighbouring elements are not correlated
    a, b = kept[:-1].float(), kept[1:].float()
    assert abs(float((a * b).mean()) - (1 - p) ** 2) < 0.01


def test_dropout_identity_cases_and_dtype():
    x = torch.randn(4, 5)
    assert dropout(x, 0.1, training=False) is x
    assert dropout(x, 0.0, training=True) is x
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros_like(x))
    assert dropout(x.to(torch.bfloat16), 0.5, training=True).dtype == torch.bfloat16
    module = Dropout(0.3)
    assert module.eval()(x) is x and "p=0.3" in repr(module)
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)


def _qkv(batch=3, heads=2, seqlen=7, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, seqlen, dim, generator=g) for _ in range(3)]


def test_written_out_attention_equals_sdpa():
    q, k, v = _qkv()
    keep = torch.ones(3, 7, dtype=torch.bool)
    keep[1, 5:] = False
    keep[2, 2:] = False
    bool_mask = keep[:, None, None, :]
    additive = torch.zeros(3, 1, 7, 7).masked_fill(~bool_mask, float("-inf"))
    for mask in (None, bool_mask, additive):
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        torch.testing.assert_close(composite_attention(q, k, v, mask, 0.0), expected, atol=1e-6, rtol=1e-5)
    # gradients too
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ours = torch.autograd.grad(composite_attention(*leaves, bool_mask, 0.0).square().sum(), leaves)
    theirs = torch.autograd.grad(F.scaled_dot_product_attention(*leaves, attn_mask=bool_mask).square().sum(), leaves)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_written_out_attention_keeps_a_fully_masked_row_finite():
    q, k, v = _qkv()
    keep = torch.ones(3, 7, dtype=torch.bool)
    keep[0] = False  # an all-padding sequence
    out = composite_attention(q, k, v, keep[:, None, None, :], 0.1)
    assert torch.isfinite(out).all()


def test_attention_dropout_is_applied_to_the_probabilities():
    q, k, v = _qkv(seed=1)
    torch.manual_seed(5)
    out = attention(q, k, v, None, 0.25)  # CPU + dropout: the written-out path
    torch.manual_seed(5)
    probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    noise = torch.rand(probs.shape).ge_(0.25).mul_(1 / 0.75)
    torch.testing.assert_close(out, (probs * noise) @ v, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(out, F.scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("nsp", [False, True])
def test_sparse_word_gradient_of_tied_embeddings_equals_the_dense_one(nsp):
    """Training on CPU, the tied word-embedding lookup has a sparse gradient; every ``.grad`` (dense) equals
    the one of the plain dense lookup, over two accumulated backward passes."""
    config = tiny_config(dropout=0.0, attention_dropout=0.0)
    torch.manual_seed(0)
    model = PretrainingModel(config, nsp=nsp).train()
    assert model._sparse_word_gradient(torch.zeros(1, 1, dtype=torch.long))
    g = torch.Generator().manual_seed(4)
    batches = []
    for _ in range(2):
        ids = torch.randint(5, config.vocab_size, (4, 16), generator=g)
        ids[1, 10:] = config.pad_token_id
        labels = torch.where(torch.rand(ids.shape, generator=g) < 0.3, ids, torch.full_like(ids, -100))
        batches.append((ids, (ids != config.pad_token_id).long(), labels, torch.tensor([0, 1, 1, 0])))

    def grads(sparse: bool):
        model.zero_grad(set_to_none=True)
        model._sparse_word_gradient = lambda input_ids: sparse  # instance override of the method
        try:
            for ids, mask, labels, nsp_labels in batches:
                model(ids, mask, labels, nsp_labels=nsp_labels if nsp else None).loss.backward()
        finally:
            del model._sparse_word_gradient
        return {name: p.grad.clone() for name, p in model.named_parameters()}

    sparse, dense = grads(True), grads(False)
    assert not any(g.is_sparse for g in sparse.values())
    for name in dense:
        torch.testing.assert_close(sparse[name], dense[name], atol=1e-7, rtol=1e-6, msg=name)


def test_sparse_word_gradient_only_for_tied_cpu_training():
    torch.manual_seed(0)
    ids = torch.zeros(1, 1, dtype=torch.long)
    assert not PretrainingModel(tiny_config()).eval()._sparse_word_gradient(ids)
    assert not PretrainingModel(tiny_config(tie_word_embeddings=False)).train()._sparse_word_gradient(ids)
