"""The one AdamW builder of pretraining and fine-tuning: parameter groups (no weight decay on biases and norms),
torch's fused kernel where it exists."""

from __future__ import annotations

from typing import Iterable, List, Tuple, Union

import torch
from torch import nn

from workbench.training.config import OptimizerConfig

Parameters = Union[nn.Module, Iterable[Tuple[str, nn.Parameter]]]  # a model, or (name, parameter) pairs of it


def parameter_groups(parameters: Parameters, weight_decay: float) -> List[dict]:
    """Decay matrices only: biases and norm weights (1-d tensors, names ending in ``.bias`` or holding ``norm``)
    are not decayed (BERT, fairseq, transformers' Trainer). Embedding matrices are decayed. A parameter shared by
    two modules (tied embeddings) is listed once; frozen parameters (``requires_grad=False``) are left out."""
    named = parameters.named_parameters() if isinstance(parameters, nn.Module) else parameters
    decay, no_decay = [], []
    seen = set()
    for name, parameter in named:
        if not parameter.requires_grad or id(parameter) in seen:
            continue
        seen.add(id(parameter))
        lowered = name.lower()
        skip = parameter.ndim < 2 or lowered.endswith(".bias") or "norm" in lowered
        (no_decay if skip else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def fused_adamw_supported(parameters: Iterable[torch.Tensor]) -> bool:
    """torch's fused AdamW kernel (one pass over each tensor) exists for plain float tensors on CPU and CUDA."""
    return all(
        type(p.data) is torch.Tensor and p.device.type in ("cpu", "cuda") and p.dtype in _FUSED_DTYPES
        for p in parameters
    )


_FUSED_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def build_optimizer(parameters: Parameters, config: OptimizerConfig) -> torch.optim.Optimizer:
    """AdamW over ``parameter_groups`` (empty groups dropped), fused where the kernel exists (CPU/CUDA plain
    tensors; transformers Trainer's default ``adamw_torch_fused``): the same update as the for-each implementation
    up to float rounding, in one pass per tensor instead of about ten (a few percent of a small model's CPU step).
    Sharded (DTensor) or XLA parameters use the for-each implementation."""
    groups = [group for group in parameter_groups(parameters, config.weight_decay) if group["params"]]
    flat = [p for group in groups for p in group["params"]]
    fused = bool(flat) and fused_adamw_supported(flat)
    implementation = {"fused": True} if fused else {"foreach": True}
    betas = (float(config.betas[0]), float(config.betas[1]))
    return torch.optim.AdamW(groups, lr=config.lr, betas=betas, eps=config.eps, **implementation)


def gradient_norm(parameters: Iterable[torch.Tensor]) -> float:
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
