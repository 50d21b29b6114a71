import math

import pytest
import torch

from workbench.training.config import OptimizerConfig, SchedulerConfig
from workbench.training.optimizer import build_optimizer, parameter_groups
from workbench.training.schedule import build_scheduler, lr_multiplier


def test_linear_warmup_then_linear_decay_to_zero():
    cfg = SchedulerConfig(name="linear", warmup_steps=10)
    values = [lr_multiplier(step, cfg, max_steps=110) for step in range(110)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[59] == pytest.approx(0.5)  # halfway through the decay
    assert values[-1] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(values[9:], values[10:]))


def test_inverse_sqrt_matches_fairseq_formula():
    cfg = SchedulerConfig(name="inverse_sqrt", warmup_steps=4000)
    for update in (4001, 8000, 16000, 100000):
        # fairseq: lr = peak * sqrt(warmup) / sqrt(update) after warmup
        assert lr_multiplier(update - 1, cfg, max_steps=10**6) == pytest.approx(math.sqrt(4000 / update))


def test_polynomial_decay_with_end_and_power():
    cfg = SchedulerConfig(name="polynomial", warmup_steps=0, power=2.0, end_lr=0.1)
    assert lr_multiplier(49, cfg, max_steps=100) == pytest.approx(0.9 * 0.5**2 + 0.1)
    assert lr_multiplier(99, cfg, max_steps=100) == pytest.approx(0.1)


def test_no_weight_decay_on_biases_and_layer_norms():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = parameter_groups(model, 0.01)
    assert [tuple(p.shape) for p in decay["params"]] == [(4, 4)]
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


def test_scheduler_drives_the_optimizer_learning_rate():
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, OptimizerConfig(lr=1e-3))
    scheduler = build_scheduler(optimizer, SchedulerConfig(name="linear", warmup_steps=2), max_steps=4)
    seen = []
    for _ in range(4):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([5e-4, 1e-3, 5e-4, 0.0])
