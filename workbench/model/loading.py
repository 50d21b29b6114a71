"""Load pretrained ``encoder.*`` weights into any model that has ``self.encoder`` (state dicts only, no files)."""

from __future__ import annotations

from typing import List, Mapping

import torch
from torch import nn

ENCODER_PREFIX = "encoder."
OPTIONAL_ENCODER_PREFIXES = ("encoder.pooler.",)  # trained only with NSP; fine-tuning starts it fresh otherwise


class WeightsMismatchError(ValueError):
    """A checkpoint does not fit the model built from its config."""


def load_encoder_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> List[str]:
    """Copy the ``encoder.*`` tensors of ``state_dict`` into ``model.encoder``; head weights are ignored.

    Every encoder tensor of the model must be present with the same shape, except the pooler (absent
    from MLM-only checkpoints). Returns the names of the model's parameters left at their initialization
    (its task head, and the pooler when the checkpoint had none).
    """
    own = model.state_dict()
    encoder_weights = {k: v for k, v in state_dict.items() if k.startswith(ENCODER_PREFIX)}
    unexpected = sorted(k for k in encoder_weights if k not in own)
    if any(not k.startswith(OPTIONAL_ENCODER_PREFIXES) for k in unexpected):
        raise WeightsMismatchError(f"checkpoint has encoder weights the model does not: {unexpected[:10]}")
    encoder_weights = {k: v for k, v in encoder_weights.items() if k in own}
    missing = sorted(k for k in own if k.startswith(ENCODER_PREFIX) and k not in encoder_weights)
    required_missing = [k for k in missing if not k.startswith(OPTIONAL_ENCODER_PREFIXES)]
    if required_missing:
        raise WeightsMismatchError(
            f"checkpoint lacks encoder weights {required_missing[:10]}{' ...' if len(required_missing) > 10 else ''};"
            " was it saved from a model with a different config?"
        )
    for key, tensor in encoder_weights.items():
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise WeightsMismatchError(
                f"{key}: checkpoint shape {tuple(tensor.shape)} != model shape {tuple(own[key].shape)}"
            )
    model.load_state_dict(encoder_weights, strict=False)
    return sorted(set(missing) | {k for k in own if not k.startswith(ENCODER_PREFIX)})
