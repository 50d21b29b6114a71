"""One identity for the same encoder weights in any folder format: the report's alias key.

A workbench model folder (``runs/<run>/model``), a run checkpoint and the transformers export of either
(``runs/<run>/transformers``) store the same encoder under other names and layouts (workbench fuses the query,
key and value projections; transformers splits them). ``encoder_weights_id`` hashes the encoder in transformers'
layout, without the model-class prefix (``roberta.``, ``bert.``, ``transformer.``), the pooler and the
position-id buffers: every tensor name, dtype, shape and byte. The same weights give the same id whatever the
folder; heads (MLM, task) do not enter it. ``""``: no id (a layout transformers cannot express, sharded or
``.bin`` weights); such a model keeps its own row.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, Mapping

import torch

ENCODER_PREFIX = "encoder."


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode("utf-8"))
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return "w-" + digest.hexdigest()[:14]


def _encoder_part(tensors: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The encoder tensors of a transformers state dict, without the class prefix, the pooler and position ids."""
    embedding_keys = [key for key in tensors if "embeddings" in key]
    if not embedding_keys:
        return {}
    first = min(embedding_keys, key=len)  # e.g. roberta.embeddings.word_embeddings.weight
    prefix = first[: first.index("embeddings")]
    return {key[len(prefix):]: value for key, value in tensors.items()
            if key.startswith(prefix) and ".pooler." not in f".{key[len(prefix):]}"
            and not key.endswith("position_ids")}


def encoder_weights_id(state_dict: Mapping[str, torch.Tensor], encoder_config) -> str:
    """The id of a workbench state dict's encoder (keys ``encoder.*``, as in model folders and checkpoints)."""
    from workbench.interop.hf_config import InteropError
    from workbench.interop.transformers_export import transformers_state_dict
    from workbench.model.encoder import Encoder

    encoder_state = {key[len(ENCODER_PREFIX):]: value for key, value in state_dict.items()
                     if key.startswith(ENCODER_PREFIX) and not key.startswith(ENCODER_PREFIX + "pooler.")}
    encoder = Encoder(encoder_config, add_pooler=False)
    try:
        encoder.load_state_dict(encoder_state, strict=True)
        _, theirs = transformers_state_dict(encoder)
    except (RuntimeError, InteropError, KeyError):  # not the layout of this config: no id
        return ""
    return _digest(_encoder_part(theirs))


def transformers_weights_id(folder: Path) -> str:
    """The id of a transformers folder's encoder, read from its ``model.safetensors``."""
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return ""
    from safetensors.torch import load_file

    return _digest(_encoder_part(load_file(str(weights))))
