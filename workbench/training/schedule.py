"""Learning-rate schedules of the published recipes, as a fraction of the peak rate, for both training stacks.

Convention: ``step`` is the 0-based index of the optimizer update the rate is used for. Pretraining's rate for
update ``step`` is the closed form of transformers' ``get_*_schedule_with_warmup`` and fairseq's lr schedulers at
``step + 1``, the number of updates made once this one is applied: the first update already uses a non-zero rate
(1/warmup), the last one the end rate. transformers' Trainer and fairseq use the same formulas one update later
(their first update has rate 0: ``LambdaLR`` at 0, fairseq's ``step_update(0)``), so workbench's update ``n`` gets
the rate theirs gets at update ``n + 1`` (tests/training/test_schedule.py checks this against both libraries).

Fine-tuning uses the same function (``finetune_lr_multiplier`` only builds its ``SchedulerConfig``). It used to
decay one update later (the peak held for two updates, ``warmup - 1`` and ``warmup``, and a last update at
``peak / (total - warmup)`` instead of 0): with this one convention every decay update of a fine-tuning job is
``peak / (total - warmup)`` lower than before, the warmup updates are unchanged.
"""

from __future__ import annotations

import math

import torch

from workbench.training.config import SchedulerConfig


def lr_multiplier(step: int, config: SchedulerConfig, max_steps: int) -> float:
    """Learning rate at optimizer update ``step`` (0-based) as a fraction of the peak.

    linear: warmup from 0 then linear decay to end (BERT, HF). polynomial: fairseq's polynomial_decay
    with ``power`` (RoBERTa/CamemBERT, power 1 = linear). inverse_sqrt: fairseq/XLM, warmup then
    sqrt(warmup / step). constant: warmup then flat. ``end_lr`` is a fraction of the peak here.
    """
    warmup = config.warmup_steps
    current = step + 1  # the first update already uses a non-zero rate
    if warmup > 0 and current <= warmup:
        return current / warmup
    if config.name == "constant":
        return 1.0
    if config.name == "inverse_sqrt":
        return math.sqrt(max(warmup, 1) / current)
    remaining = max(max_steps - warmup, 1)
    progress = min(max(current - warmup, 0) / remaining, 1.0)
    end = config.end_lr
    power = 1.0 if config.name == "linear" else config.power
    return (1.0 - end) * (1.0 - progress) ** power + end


def build_scheduler(optimizer: torch.optim.Optimizer, config: SchedulerConfig, max_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_multiplier(step, config, max_steps))


def finetune_schedule(schedule: str, warmup_steps: int) -> SchedulerConfig:
    """Fine-tuning's schedule (``finetune.lr_schedule``: ``linear`` decay to 0 or ``constant``) after a linear warmup
    over ``warmup_steps``, as the one ``SchedulerConfig`` that ``lr_multiplier`` reads."""
    return SchedulerConfig(name=schedule, warmup_steps=warmup_steps)


def finetune_lr_multiplier(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Fine-tuning's multiplier of the peak rate at optimizer update ``step`` (0-based): ``lr_multiplier`` (the one
    convention) on :func:`finetune_schedule`."""
    return lr_multiplier(step, finetune_schedule(schedule, warmup_steps), total_steps)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every parameter group at ``lr`` (fine-tuning sets the rate itself before each update)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
