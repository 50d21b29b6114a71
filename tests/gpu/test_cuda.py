"""The encoder and the pretraining step on a CUDA device: precision, attention kernels, padding-free path.

Skipped where no CUDA device is visible (CI has none); run on a GPU machine with
``python -m pytest tests/gpu -q``.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from tests.helpers import assert_close_scaled
from workbench.model.config import EncoderConfig
from workbench.model.kernels.choice import select_kernels, use_kernels
from workbench.model.pretraining import PretrainingModel
from workbench.objectives.masking import generator_for, mask_tokens

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none visible)")

CUDA = torch.device("cuda")


def on_cuda(model):
    """``model`` moved to the GPU with the GPU's kernels (a model is built with the CPU's)."""
    return use_kernels(model.to(CUDA), select_kernels("cuda"))


@pytest.fixture(autouse=True)
def exact_fp32():
    """fp32 comparisons need true fp32 matmuls, not TF32."""
    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


def small_config(**overrides) -> EncoderConfig:
    base = EncoderConfig(family="roberta", size="small", vocab_size=1000, hidden_size=128, num_layers=3,
                         num_heads=2, intermediate_size=256, max_positions=130, position_offset=2,
                         pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5, dropout=0.0,
                         attention_dropout=0.0)
    return dataclasses.replace(base, **overrides)


def batch(config: EncoderConfig, rows: int = 4, seqlen: int = 128, padded: bool = False, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, (rows, seqlen), generator=g)
    mask = torch.ones(rows, seqlen, dtype=torch.long)
    if padded:
        for row, length in enumerate([seqlen, seqlen - 17, seqlen // 2, 9][:rows]):
            mask[row, length:] = 0
        ids[mask == 0] = config.pad_token_id
    masked, labels = mask_tokens(ids, vocab_size=config.vocab_size, special_ids={0, 1, 2, 3, 4}, mask_id=4,
                                 generator=generator_for(seed, 0, 0))
    return masked, mask, labels


def test_fp32_on_cuda_equals_cpu():
    config = small_config()
    torch.manual_seed(0)
    model = PretrainingModel(config).eval()
    ids, mask, labels = batch(config, padded=True)
    with torch.no_grad():
        cpu = model.encoder(ids, mask)
        cpu_loss = model(ids, mask, labels).loss
        on_cuda(model)
        gpu = model.encoder(ids.to(CUDA), mask.to(CUDA)).cpu()
        gpu_loss = model(ids.to(CUDA), mask.to(CUDA), labels.to(CUDA)).loss.cpu()
    real = mask.bool()
    # cuBLAS/cuDNN fp32 (TF32 off) against the CPU kernels: other summation orders. Relative to the scale (hidden
    # states ~4, loss ~7); 2.5e-5 = 210 float32 eps is what the former absolute 1e-4 allowed at scale 4 (not yet
    # measured on a GPU: bash scripts/gpu_check.sh prints the figures when it fails)
    assert_close_scaled(gpu[real], cpu[real], 2.5e-5, "hidden states, CUDA vs CPU")
    assert_close_scaled(gpu_loss, cpu_loss, 2.5e-5, "loss, CUDA vs CPU")


def test_bf16_autocast_tracks_fp32():
    config = small_config()
    torch.manual_seed(0)
    model = on_cuda(PretrainingModel(config)).eval()
    ids, mask, labels = (t.to(CUDA) for t in batch(config))
    with torch.no_grad():
        fp32 = model(ids, mask, labels)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            bf16 = model(ids, mask, labels)
    assert bf16.mlm_logits.dtype == torch.bfloat16
    assert abs(bf16.loss.item() - fp32.loss.item()) / fp32.loss.item() < 0.01
    agreement = (bf16.mlm_logits.argmax(-1) == fp32.mlm_logits.argmax(-1)).float().mean().item()
    assert agreement > 0.9


def test_padding_free_equals_padded_on_cuda():
    torch.manual_seed(0)
    dense = on_cuda(PretrainingModel(small_config())).eval()
    unpadded = on_cuda(PretrainingModel(small_config(padding_free=True))).eval()
    unpadded.load_state_dict(dense.state_dict())
    ids, mask, labels = (t.to(CUDA) for t in batch(small_config(), padded=True))
    with torch.no_grad():
        a, b = dense.encoder(ids, mask), unpadded.encoder(ids, mask)
        loss_a, loss_b = dense(ids, mask, labels).loss, unpadded(ids, mask, labels).loss
    real = mask.bool()
    # the same kernels on other shapes (varlen attention): float32 rounding, relative to the scale (hidden states
    # ~4); 1e-5 = 84 float32 eps, as the CPU padding-free tests
    assert_close_scaled(b[real], a[real], 1e-5, "padding-free hidden states")
    assert_close_scaled(loss_b, loss_a, 1e-5, "padding-free loss")


def test_packed_batches_run_on_the_flash_kernel():
    """A packed batch (no padding) must be eligible for FlashAttention: forcing that kernel must work."""
    config = small_config(dropout=0.1, attention_dropout=0.1)
    model = on_cuda(PretrainingModel(config)).train()
    ids, mask, labels = (t.to(CUDA) for t in batch(config))
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]), torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(ids, mask, labels).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_fp16_with_loss_scaling_learns_like_fp32():
    """30 AdamW steps on one batch: fp16 + GradScaler reaches the same loss as fp32 (within 5%)."""
    losses = {}
    for precision in ("fp32", "fp16"):
        config = small_config()
        torch.manual_seed(0)
        model = on_cuda(PretrainingModel(config)).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
        ids, mask, labels = (t.to(CUDA) for t in batch(config))
        trace = []
        for _ in range(30):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=precision == "fp16"):
                loss = model(ids, mask, labels).loss
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            trace.append(loss.item())
        assert all(torch.isfinite(torch.tensor(trace)))
        losses[precision] = trace
    assert losses["fp32"][-1] < losses["fp32"][0] - 2.0  # it learns the batch
    assert abs(losses["fp16"][-1] - losses["fp32"][-1]) / losses["fp32"][-1] < 0.05


def test_compiled_model_equals_eager_on_cuda():
    config = small_config()
    torch.manual_seed(0)
    model = on_cuda(PretrainingModel(config)).eval()
    compiled = torch.compile(model)
    ids, mask, labels = (t.to(CUDA) for t in batch(config))
    with torch.no_grad():
        eager, fast = model(ids, mask, labels), compiled(ids, mask, labels)
    # inductor's fused kernels reorder reductions; the former absolute bounds (loss 1e-4, logits 1e-3) relative to
    # these values' scale (loss ~7, logits ~1)
    assert_close_scaled(fast.loss, eager.loss, 1.5e-5, "compiled loss")
    assert_close_scaled(fast.mlm_logits, eager.mlm_logits, 1e-3, "compiled MLM logits")
