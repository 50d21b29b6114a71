"""build_optimizer takes torch's fused AdamW on CPU: the same updates as the for-each implementation."""

from __future__ import annotations

import pytest
import torch

from tests.model.conftest import tiny_config
from workbench.model.pretraining import PretrainingModel
from workbench.training.config import OptimizerConfig
from workbench.training.optimizer import build_optimizer, fused_adamw_supported, parameter_groups

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default
# Tolerance: fused against for-each AdamW, float32 weights of scale 0.01: measured at most 9 float32 eps of the scale
# (1e-8) on AVX-512, AVX2 and scalar kernels, a hundredth of atol=1e-6 + rtol=1e-5.


def test_fused_adamw_on_cpu_matches_foreach_adamw_over_steps():
    config = OptimizerConfig(lr=3e-3, betas=[0.9, 0.98], eps=1e-6, weight_decay=0.01)
    torch.manual_seed(0)
    model = PretrainingModel(tiny_config(dropout=0.0, attention_dropout=0.0))
    twin = PretrainingModel(model.config)
    twin.load_state_dict(model.state_dict())
    fused = build_optimizer(model, config)
    assert fused.defaults["fused"] is True
    reference = torch.optim.AdamW(parameter_groups(twin, config.weight_decay), lr=config.lr, betas=tuple(config.betas),
                                  eps=config.eps, foreach=True)
    g = torch.Generator().manual_seed(1)
    for _ in range(4):
        ids = torch.randint(5, model.config.vocab_size, (3, 10), generator=g)
        labels = torch.where(torch.rand(ids.shape, generator=g) < 0.3, ids, torch.full_like(ids, -100))
        for net, optimizer in ((model, fused), (twin, reference)):
            optimizer.zero_grad(set_to_none=True)
            net(ids, None, labels).loss.backward()
            optimizer.step()
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
    # same optimizer state layout: a checkpoint of one loads into the other
    reference.load_state_dict(fused.state_dict())


def test_fused_adamw_only_for_plain_float_tensors():
    assert fused_adamw_supported([torch.nn.Parameter(torch.zeros(2))])
    assert not fused_adamw_supported([torch.nn.Parameter(torch.zeros(2, dtype=torch.float64).to(torch.int64), requires_grad=False)])
    assert not fused_adamw_supported([torch.nn.Parameter(torch.zeros(2, device="meta"))])
