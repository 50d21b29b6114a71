"""The kernel sets (``workbench.model.kernels``): which variant runs where, each variant against its reference,
and losses that leave the model's outputs alone. (The CPU variants' own parity tests against torch's ops are in
test_cpu_fast_paths.py.)"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tests.model.conftest import masked_ids, tiny_config
from workbench.model import attention as attention_module, embeddings, encoder, layer, pretraining
from workbench.model.kernels import attention, dropout, mlm_loss, residual
from workbench.model.kernels.choice import Kernels, select_kernels, use_kernels
from workbench.model.padding import batch_layout
from workbench.model.pretraining import PretrainingModel

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default


def test_kernels_by_device_and_mode():
    eager = select_kernels("cpu", compiled=False)
    assert eager is select_kernels()  # the default a model is built with
    assert (eager.attention, eager.dropout, eager.mlm_loss) == (
        attention.cpu_attention, dropout.uniform_dropout, mlm_loss.written_out_loss)
    assert eager.unpadded_attention.keywords == {"attention": attention.cpu_attention}
    assert eager.skip_full_masks and eager.sparse_tied_word_gradient
    for kernels in (select_kernels("cpu", compiled=True), select_kernels("cuda"), select_kernels("cuda", compiled=True),
                    select_kernels("mps")):
        assert (kernels.attention, kernels.dropout, kernels.mlm_loss) == (
            attention.sdpa_attention, dropout.torch_dropout, mlm_loss.cross_entropy_loss), kernels.name
        assert not kernels.sparse_tied_word_gradient
        assert kernels.skip_full_masks == (not kernels.name.endswith("compiled"))
    assert select_kernels("cpu", compiled=True).unpadded_attention is attention.repad_attention
    assert select_kernels("mps").unpadded_attention is attention.repad_attention
    expected = attention.flash_varlen_attention if attention.varlen_available() else attention.repad_attention
    assert select_kernels("cuda").unpadded_attention is expected


def test_use_kernels_reaches_every_block():
    model = PretrainingModel(tiny_config(padding_free=True))
    holders = [m for m in model.modules() if isinstance(getattr(m, "kernels", None), Kernels)]
    # encoder, embedding dropout, and per layer: the layer and its attention
    assert len(holders) == 2 + 2 * model.config.num_layers
    assert all(m.kernels is model.encoder.kernels for m in holders)
    compiled = select_kernels("cpu", compiled=True)
    assert use_kernels(model, compiled) is model
    assert all(m.kernels is compiled for m in holders)
    assert not model.train()._sparse_word_gradient(torch.zeros(1, 1, dtype=torch.long))


def test_blocks_hold_no_device_or_compile_checks():
    """The choice is made once (select_kernels); the blocks' code never looks at the device or the compiler."""
    for module in (attention_module, embeddings, encoder, layer, pretraining):
        source = inspect.getsource(module)
        for needle in ("is_compiling", "device.type", ".is_cuda"):
            assert needle not in source, f"{module.__name__} checks {needle}"


def _qkv_tokens(seed=0, heads=2, dim=8):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    qkv = torch.randn(3, 7, 3, heads, dim, generator=g)
    return qkv, mask


@pytest.mark.parametrize("kernel", [attention.repad_attention, attention.flash_varlen_attention])
def test_unpadded_attention_equals_padded_attention_on_real_tokens(kernel):
    qkv, mask = _qkv_tokens()
    layout = batch_layout(mask, padding_free=True, skip_full_mask=True)
    tokens = layout.tokens(qkv)  # [N, 3, heads, d]
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    expected = attention.sdpa_attention(q, k, v, mask.bool()[:, None, None, :], 0.0).transpose(1, 2).reshape(3, 7, -1)
    out = kernel(tokens, layout, 0.0, torch.float32)
    # the same SDPA call on the same (re-padded) tensors: bitwise on CPU (the varlen kernel needs CUDA, so this
    # is its fallback)
    assert torch.equal(out, expected[mask.bool()])


def test_residual_kernel_is_dropout_add_norm():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(4, 16, generator=g), torch.randn(4, 16, generator=g)
    norm = nn.LayerNorm(16)
    assert torch.equal(residual.dropout_add_norm(x, y, 0.1, False, norm), norm(x + y))
    assert torch.equal(residual.dropout_add_norm(x, y, 0.1, False, None), x + y)
    for kernel in (dropout.torch_dropout, dropout.uniform_dropout):
        torch.manual_seed(3)
        out = residual.dropout_add_norm(x, y, 0.25, True, norm, dropout=kernel)
        torch.manual_seed(3)
        assert torch.equal(out, norm(x + kernel(y, 0.25, True)))


def test_dropout_variants_have_the_same_distribution():
    torch.manual_seed(0)
    p, n = 0.2, 200_000
    x = torch.ones(n)
    for kernel in (dropout.torch_dropout, dropout.uniform_dropout):
        y = kernel(x, p, True)
        kept = y != 0
        # binomial(n, 0.8): standard deviation sqrt(n p (1 - p)) = 179; 5 sigma
        assert abs(int(kept.sum()) - n * (1 - p)) < 5 * math.sqrt(n * p * (1 - p)), kernel.__name__
        assert torch.equal(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
        assert kernel(x, p, False) is x and kernel(x, 0.0, True) is x


def _logits(count=40, vocab=97, padding=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(count + padding, vocab, generator=g) * 4
    targets = torch.randint(0, vocab, (count,), generator=g)
    targets[::2] = logits[:count:2].argmax(-1)
    return logits, targets


def test_loss_kernels_agree():
    logits, targets = _logits()
    reference = logits.clone().requires_grad_()
    ours = logits.clone().requires_grad_()
    ref_loss, ref_correct = mlm_loss.cross_entropy_loss(reference, targets)
    loss, correct = mlm_loss.written_out_loss(ours, targets)
    (ref_grad,) = torch.autograd.grad(ref_loss * 2.0, reference)
    (grad,) = torch.autograd.grad(loss * 2.0, ours)
    # float32, values of scale 1e-3 to 10: the softmax and the mean rounded differently (as test_cpu_fast_paths)
    torch.testing.assert_close(loss, ref_loss, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grad, ref_grad, atol=1e-7, rtol=1e-5)
    assert int(correct) == int(ref_correct) == int((logits[:40].argmax(-1) == targets).sum())


@pytest.mark.parametrize("kernel", [mlm_loss.cross_entropy_loss, mlm_loss.written_out_loss])
def test_losses_never_write_into_the_logits(kernel):
    logits, targets = _logits()
    logits.requires_grad_()
    before, version = logits.detach().clone(), logits._version
    loss, correct = kernel(logits, targets)
    loss.backward()
    assert logits._version == version  # not even a write that is undone later
    assert torch.equal(logits.detach(), before)


def test_pretraining_output_logits_are_left_as_the_head_computed_them():
    config = tiny_config(dropout=0.0, attention_dropout=0.0)
    torch.manual_seed(0)
    model = PretrainingModel(config).train()
    ids, labels = masked_ids(config, seed=1)
    out = model(ids, None, labels)
    version, before = out.mlm_logits._version, out.mlm_logits.detach().clone()
    out.loss.backward()
    selected = labels.reshape(-1) != -100
    with torch.no_grad():
        recomputed = model.mlm_head(model.encoder(ids).reshape(-1, config.hidden_size)[selected])
    assert out.mlm_logits._version == version and torch.equal(out.mlm_logits.detach(), before)
    # the last layer on the selected positions only: the same values up to float32 rounding of the scale (~5)
    torch.testing.assert_close(before, recomputed, atol=1e-5, rtol=1e-5)


def test_written_out_accuracy_on_near_ties_follows_argmax():
    """Targets one float32 ulp above, equal to or below the row's maximum: the exact argmax decides."""
    g = torch.Generator().manual_seed(7)
    rows, vocab = 300, 50
    logits = torch.randn(rows, vocab, generator=g)
    best = logits.argmax(-1)
    top = logits.gather(1, best[:, None]).squeeze(1)
    targets = torch.randint(0, vocab, (rows,), generator=g)
    targets = torch.where(targets == best, (targets + 1) % vocab, targets)
    step = torch.randint(-1, 2, (rows,), generator=g)  # -1, 0, +1 ulp
    near = torch.where(step > 0, torch.nextafter(top, torch.tensor(math.inf)),
                       torch.where(step < 0, torch.nextafter(top, torch.tensor(-math.inf)), top))
    logits[torch.arange(rows), targets] = near
    expected = int((logits.argmax(-1) == targets).sum())
    assert 0 < expected < rows
    _, correct = mlm_loss.written_out_loss(logits, targets)
    assert int(correct) == expected
