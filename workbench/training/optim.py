"""AdamW with the usual weight-decay exclusions, and the learning-rate schedules of the published recipes."""

from __future__ import annotations

import math
from typing import Iterable, List

import torch
from torch import nn

from workbench.training.config import OptimizerConfig, SchedulerConfig


def parameter_groups(model: nn.Module, weight_decay: float) -> List[dict]:
    """Decay matrices only: biases, LayerNorm weights (1-d tensors) are not decayed (BERT, fairseq)."""
    decay, no_decay = [], []
    seen = set()
    for parameter in model.parameters():
        if not parameter.requires_grad or id(parameter) in seen:
            continue
        seen.add(id(parameter))
        (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def fused_adamw_supported(parameters: Iterable[torch.Tensor]) -> bool:
    """torch's fused AdamW kernel (one pass over each tensor) exists for plain float tensors on CPU and CUDA."""
    return all(
        type(p.data) is torch.Tensor and p.device.type in ("cpu", "cuda") and p.dtype in _FUSED_DTYPES
        for p in parameters
    )


_FUSED_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def build_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """AdamW, fused where the kernel exists (CPU/CUDA plain tensors): the same update as the for-each
    implementation up to float rounding, in one pass per tensor instead of about ten (a few percent of a
    small model's CPU step). Sharded (DTensor) or XLA parameters use the for-each implementation."""
    groups = parameter_groups(model, config.weight_decay)
    fused = fused_adamw_supported(p for group in groups for p in group["params"])
    implementation = {"fused": True} if fused else {"foreach": True}
    return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas), eps=config.eps, **implementation)


def lr_multiplier(step: int, config: SchedulerConfig, max_steps: int) -> float:
    """Learning rate at optimizer step ``step`` (0-based) as a fraction of the peak.

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


def gradient_norm(parameters: Iterable[torch.Tensor]) -> float:
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
