"""A transformers folder written as files only, without transformers installed: ``config.json`` (what
transformers' ``save_pretrained`` writes for the class), ``model.safetensors`` (its key names, tied copies left
out as it does) and the tokenizer files. ``AutoModelForMaskedLM.from_pretrained`` reads it later, where
transformers is installed (tested equal, key for key, to the folder transformers writes itself).

``CONFIG_DEFAULTS`` are the fields transformers' config classes write beyond those ``to_hf_config`` sets
(transformers 5.x: ``dtype``; ``transformers_version`` is left out, there being no transformers to name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import torch
from safetensors.torch import save_file
from torch import nn

from workbench.artifacts.atomic import atomic_dir, write_text
from workbench.interop.hf_config import InteropError, to_hf_config
from workbench.interop.hf_layout import BIAS_ALIASES
from workbench.interop.kinds import kind_of
from workbench.interop.transformers_export import copy_tokenizer_files, transformers_state_dict

_BERT_LIKE = {"add_cross_attention": False, "classifier_dropout": None, "is_decoder": False, "use_cache": True}
CONFIG_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "bert": {**_BERT_LIKE, "bos_token_id": None, "eos_token_id": None},
    "roberta": {**_BERT_LIKE, "bos_token_id": 0, "eos_token_id": 2},
    "camembert": {**_BERT_LIKE, "bos_token_id": 0, "eos_token_id": 2},
    "flaubert": {
        "bos_token_id": 0, "eos_token_id": 1, "embed_init_std": 2048 ** -0.5, "end_n_top": 5, "is_encoder": True,
        "lang_id": 0, "mask_index": 5, "mask_token_id": 0, "start_n_top": 5, "summary_activation": None,
        "summary_first_dropout": 0.1, "summary_proj_to_labels": True, "summary_type": "first", "summary_use_proj": True,
        "unk_index": 3,
    },
}
NOT_WRITTEN = {"flaubert": ("pad_index",)}  # set on the config object, not serialized by transformers (pad_token_id is)
TIED_DECODERS = ("cls.predictions.decoder.weight", "lm_head.decoder.weight", "pred_layer.proj.weight")
DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def transformers_config_json(model: nn.Module) -> Dict[str, Any]:
    """The ``config.json`` transformers writes for the model's masked-LM (or bare encoder) class."""
    kind = kind_of(model)
    if kind not in ("pretraining", "encoder"):
        raise InteropError(f"writing a transformers folder without transformers covers pretraining models and bare"
                           f" encoders, not {kind} models; install transformers to export it")
    architecture, _ = transformers_state_dict(model)
    fields = to_hf_config(model.config)
    model_type = fields["model_type"]
    for key in NOT_WRITTEN.get(model_type, ()):
        fields.pop(key)
    dtype = next(model.parameters()).dtype
    record = {**fields, **CONFIG_DEFAULTS[model_type], "architectures": [architecture], "dtype": DTYPES[dtype]}
    return dict(sorted(record.items()))  # transformers writes the keys sorted


def write_transformers_files(model: nn.Module, directory: str | Path, tokenizer_dir: Optional[str | Path] = None,
                             overwrite: bool = False, extra_files: Optional[Mapping[str, str]] = None) -> Path:
    """Write ``directory`` (atomically) from files only: no transformers import."""
    config = transformers_config_json(model)
    _, state = transformers_state_dict(model)
    dropped = set(BIAS_ALIASES.values()) | (set(TIED_DECODERS) if model.config.tie_word_embeddings else set())
    tensors = {key: tensor.contiguous().clone() for key, tensor in state.items() if key not in dropped}
    directory = Path(directory)
    with atomic_dir(directory, overwrite=overwrite) as tmp:
        write_text(tmp / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        if tokenizer_dir is not None:
            copy_tokenizer_files(Path(tokenizer_dir), tmp, model.config.max_positions)
        for name, text in (extra_files or {}).items():  # the model card
            write_text(tmp / name, text)
    return directory
