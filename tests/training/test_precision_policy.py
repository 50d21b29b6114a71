"""One precision policy and one update for both training stacks: autocast, loss scaling, fp16 off CUDA refused,
the update with a disabled scaler equal to the plain one, and the non-finite-loss rule."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from workbench.config.choices import ConfigError
from workbench.hardware.precision import PrecisionError, PrecisionPolicy
from workbench.stages.train import train
from workbench.training.train_step import BadSteps, apply_update, backward

from .conftest import TINY_RUN, compose_config

FP16_REFUSED = r"hardware.precision=fp16 needs a GPU; use bf16 or fp32 on CPU"


def test_fp16_off_cuda_is_refused_with_the_key_and_the_fix():
    with pytest.raises(PrecisionError, match=FP16_REFUSED):
        PrecisionPolicy("fp16", "cpu")


def test_pretraining_refuses_fp16_on_cpu_before_training(sample_artifacts, tmp_path):
    cfg = compose_config("pipeline", [*TINY_RUN, *sample_artifacts.paths(tmp_path), "run_name=fp16", "hardware.precision=fp16"])
    with pytest.raises(ConfigError, match=FP16_REFUSED):
        train(cfg)
    assert not (tmp_path / "fp16" / "checkpoints").exists()  # refused before the first step


def test_autocast_and_scaler_of_each_precision():
    fp32 = PrecisionPolicy("fp32", "cpu")
    assert isinstance(fp32.autocast(), contextlib.nullcontext)
    scaler = fp32.grad_scaler()
    loss = torch.tensor(2.5, requires_grad=True)
    assert not scaler.is_enabled() and scaler.scale(loss) is loss  # the plain backward
    with PrecisionPolicy("bf16", "cpu").autocast():
        product = torch.ones(2, 2) @ torch.ones(2, 2)
    assert product.dtype == torch.bfloat16 and PrecisionPolicy("bf16", "cpu").dtype == torch.bfloat16


def test_update_under_a_disabled_scaler_is_the_plain_update_bitwise():
    torch.manual_seed(0)
    ours, plain = torch.nn.Linear(6, 3), torch.nn.Linear(6, 3)
    plain.load_state_dict(ours.state_dict())
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-2)
    opt_plain = torch.optim.AdamW(plain.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt_ours, lambda step: 1.0 / (step + 1))
    scheduler_plain = torch.optim.lr_scheduler.LambdaLR(opt_plain, lambda step: 1.0 / (step + 1))
    scaler = PrecisionPolicy("fp32", "cpu").grad_scaler()
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    for step in range(3):
        backward((ours(x * (step + 1)) ** 2).mean(), scaler)
        norm = apply_update(opt_ours, scaler, lambda: torch.nn.utils.clip_grad_norm_(ours.parameters(), 0.1), scheduler)
        (plain(x * (step + 1)) ** 2).mean().backward()
        reference = torch.nn.utils.clip_grad_norm_(plain.parameters(), 0.1)
        opt_plain.step()
        scheduler_plain.step()
        opt_plain.zero_grad(set_to_none=True)
        assert torch.equal(norm, reference)
    for a, b in zip(ours.parameters(), plain.parameters()):
        assert torch.equal(a, b) and a.grad is None


def test_non_finite_losses_are_skipped_counted_and_stop_after_the_limit():
    guard = BadSteps(limit=3)
    assert not guard.skip(1.0) and guard.count == 0
    assert guard.skip(math.nan) and guard.skip(torch.tensor(math.inf)) and guard.count == 2 and not guard.exhausted
    assert not guard.skip(torch.tensor(0.5)) and guard.count == 0  # a finite loss resets the count
    for _ in range(3):
        assert guard.skip(-math.inf)
    assert guard.exhausted and guard.count == 3
    first = BadSteps(limit=1)  # fine-tuning: the first non-finite (or missing) loss stops the job
    assert first.skip(None) and first.exhausted
