"""The schedules of workbench.training.schedule against transformers' and fairseq's, and the one convention.

Convention: workbench's update ``i`` (0-based) gets the rate transformers' ``get_*_schedule_with_warmup`` lambda and
fairseq's ``step_update`` give at ``i + 1`` (the first update is not taken at rate 0). transformers' Trainer and
fairseq's trainer take their update ``i`` at ``i``, so workbench runs one update ahead of both.
Tolerance: the same closed forms evaluated in a different order of float64 operations; the values are in [0, 1],
so rel=1e-12 (about 4500 ulp at 1.0) is loose for rounding and far below any one-step shift (>= 1/total).
"""

import math

import pytest
import torch

from workbench.training.config import SchedulerConfig
from workbench.training.schedule import finetune_lr_multiplier, lr_multiplier

TOTAL, WARMUP = 110, 10
REL = 1e-12


def _transformers_lambda(name: str, warmup: int, total: int, power: float = 1.0, end: float = 0.0):
    transformers = pytest.importorskip("transformers")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)  # peak 1: the lambda is the rate
    if name == "linear":
        scheduler = transformers.get_linear_schedule_with_warmup(optimizer, warmup, total)
    elif name == "polynomial":
        scheduler = transformers.get_polynomial_decay_schedule_with_warmup(optimizer, warmup, total, lr_end=end, power=power)
    elif name == "constant":
        scheduler = transformers.get_constant_schedule_with_warmup(optimizer, warmup)
    else:
        scheduler = transformers.get_inverse_sqrt_schedule(optimizer, warmup)  # timescale = warmup
    return scheduler.lr_lambdas[0]


@pytest.mark.parametrize("name,power,end", [("linear", 1.0, 0.0), ("polynomial", 2.0, 0.1), ("polynomial", 1.0, 0.0),
                                            ("constant", 1.0, 0.0), ("inverse_sqrt", 1.0, 0.0)])
def test_every_schedule_is_transformers_one_update_ahead(name, power, end):
    config = SchedulerConfig(name=name, warmup_steps=WARMUP, power=power, end_lr=end)
    reference = _transformers_lambda(name, WARMUP, TOTAL, power, end)
    ours = [lr_multiplier(step, config, TOTAL) for step in range(TOTAL)]
    assert ours == pytest.approx([reference(step + 1) for step in range(TOTAL)], rel=REL, abs=0)
    assert ours[0] == pytest.approx(1 / WARMUP) and ours[WARMUP - 1] == 1.0  # first update non-zero, peak at warmup
    # and not at the same update: transformers' Trainer takes its first update at rate 0
    assert reference(0) == 0.0


def test_closed_forms_of_the_papers():
    # BERT / transformers linear: warmup s/W, then (T - s) / (T - W), s = updates made (1-based here)
    linear = SchedulerConfig(name="linear", warmup_steps=WARMUP)
    for s in (1, 5, 10, 11, 60, 110):
        expected = s / WARMUP if s <= WARMUP else (TOTAL - s) / (TOTAL - WARMUP)
        assert lr_multiplier(s - 1, linear, TOTAL) == pytest.approx(expected, rel=REL, abs=1e-15)
    # fairseq polynomial_decay: (1 - end) * (1 - (s - W) / (T - W)) ** power + end
    poly = SchedulerConfig(name="polynomial", warmup_steps=WARMUP, power=2.0, end_lr=0.1)
    for s in (11, 60, 110):
        assert lr_multiplier(s - 1, poly, TOTAL) == pytest.approx(0.9 * (1 - (s - WARMUP) / (TOTAL - WARMUP)) ** 2 + 0.1, rel=REL)
    # XLM / fairseq inverse_sqrt: sqrt(W / s) after warmup
    inverse = SchedulerConfig(name="inverse_sqrt", warmup_steps=WARMUP)
    for s in (11, 40, 1000):
        assert lr_multiplier(s - 1, inverse, 10**6) == pytest.approx(math.sqrt(WARMUP / s), rel=REL)


def _fairseq_rates(scheduler_class, config, updates: int):
    """The rate fairseq's trainer sets after ``n`` updates (``step_update(n)``), for n = 0 .. updates."""
    pytest.importorskip("fairseq")
    from fairseq.optim.fairseq_optimizer import FairseqOptimizer

    class Recorder(FairseqOptimizer):  # the scheduler only sets and reads the rate
        def __init__(self):
            super().__init__(None)
            self.rate = None

        def set_lr(self, lr):
            self.rate = lr

        def get_lr(self):
            return self.rate

    scheduler = scheduler_class(config, Recorder())
    return [scheduler.step_update(n) for n in range(updates + 1)]


def test_polynomial_and_inverse_sqrt_are_fairseq_one_update_ahead():
    pytest.importorskip("fairseq")
    from fairseq.optim.lr_scheduler.inverse_square_root_schedule import (InverseSquareRootLRScheduleConfig,
                                                                         InverseSquareRootSchedule)
    from fairseq.optim.lr_scheduler.polynomial_decay_schedule import (PolynomialDecayLRSchedule,
                                                                      PolynomialDecayLRScheduleConfig)

    poly = _fairseq_rates(PolynomialDecayLRSchedule, PolynomialDecayLRScheduleConfig(
        warmup_updates=WARMUP, end_learning_rate=0.1, power=2.0, total_num_update=TOTAL, lr=[1.0]), TOTAL)
    config = SchedulerConfig(name="polynomial", warmup_steps=WARMUP, power=2.0, end_lr=0.1)
    assert [lr_multiplier(i, config, TOTAL) for i in range(TOTAL)] == pytest.approx(poly[1:], rel=REL)
    assert poly[0] == 0.0  # fairseq's first update (after step_update(0)) is at rate 0

    inverse = _fairseq_rates(InverseSquareRootSchedule, InverseSquareRootLRScheduleConfig(
        warmup_updates=WARMUP, warmup_init_lr=0.0, lr=[1.0]), TOTAL)
    config = SchedulerConfig(name="inverse_sqrt", warmup_steps=WARMUP)
    assert [lr_multiplier(i, config, TOTAL) for i in range(TOTAL)] == pytest.approx(inverse[1:], rel=REL)


def test_finetuning_follows_the_one_convention():
    """Fine-tuning's rate at update i is pretraining's: transformers' closed form at i + 1, the peak reached once
    (update W - 1) and the last update at 0; constant: warmup then flat."""
    reference = _transformers_lambda("linear", WARMUP, TOTAL)
    ours = [finetune_lr_multiplier(step, TOTAL, WARMUP, "linear") for step in range(TOTAL)]
    assert ours == [lr_multiplier(step, SchedulerConfig(name="linear", warmup_steps=WARMUP), TOTAL) for step in range(TOTAL)]
    assert ours == pytest.approx([reference(step + 1) for step in range(TOTAL)], rel=REL, abs=0)
    assert ours[WARMUP - 1] == 1.0 and ours[WARMUP] < 1.0 and ours[-1] == 0.0
    constant = [finetune_lr_multiplier(s, TOTAL, WARMUP, "constant") for s in range(TOTAL)]
    assert constant == [min(1.0, (s + 1) / WARMUP) for s in range(TOTAL)]
