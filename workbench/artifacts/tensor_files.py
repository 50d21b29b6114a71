"""State dicts that safetensors accepts."""

from __future__ import annotations

from typing import Dict, Mapping

import torch


def independent_tensors(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """CPU, contiguous tensors that share no memory (safetensors refuses tied weights such as the MLM decoder)."""
    seen = set()
    out = {}
    for name, tensor in state_dict.items():
        tensor = tensor.detach().to("cpu")
        shared = tensor.numel() > 0 and tensor.data_ptr() in seen
        out[name] = tensor.clone().contiguous() if shared else tensor.contiguous()
        seen.add(tensor.data_ptr())
    return out
