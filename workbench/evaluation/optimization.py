"""AdamW with decoupled weight decay (none on biases and norms) and a warmup + linear-decay/constant schedule."""

from __future__ import annotations

from typing import Iterable, List, Sequence

import torch
from torch import nn


def parameter_groups(named: Iterable[tuple[str, nn.Parameter]], weight_decay: float) -> List[dict]:
    decay, no_decay = [], []
    for name, parameter in named:
        if not parameter.requires_grad:
            continue
        lowered = name.lower()
        skip = parameter.ndim < 2 or lowered.endswith(".bias") or "norm" in lowered
        (no_decay if skip else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_multiplier(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Multiplier of the peak rate at optimizer step ``step`` (0-based): linear warmup, then linear decay to 0 or constant."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    remaining = total_steps - step
    return max(0.0, remaining / max(1, total_steps - warmup_steps))


def build_optimizer(
    named: Iterable[tuple[str, nn.Parameter]], lr: float, weight_decay: float, betas: Sequence[float], eps: float
) -> torch.optim.AdamW:
    """AdamW; the fused kernel (one pass over all tensors, transformers Trainer's default ``adamw_torch_fused``)
    where torch has it for the parameters' device and dtype, else torch's default implementation."""
    groups = [group for group in parameter_groups(named, weight_decay) if group["params"]]
    parameters = [p for group in groups for p in group["params"]]
    fused = bool(parameters) and all(_fused_adamw_supported(p) for p in parameters)
    return torch.optim.AdamW(groups, lr=lr, betas=(float(betas[0]), float(betas[1])), eps=eps,
                             fused=fused or None)


def _fused_adamw_supported(parameter: torch.Tensor) -> bool:
    floating = parameter.dtype in (torch.float32, torch.float16, torch.bfloat16)
    return floating and parameter.device.type in ("cpu", "cuda")
