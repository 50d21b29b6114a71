"""Export a workbench model to a transformers folder (config.json + model.safetensors [+ tokenizer files]).

``BertForPreTraining``/``BertForMaskedLM``, ``RobertaForMaskedLM``, ``CamembertForMaskedLM``,
``FlaubertWithLMHeadModel``, the sequence/token classification and QA classes, or the bare ``*Model``.
The weights are loaded into transformers' own class before saving, so a folder is written only when
transformers accepts every tensor.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from workbench.artifacts.atomic import atomic_dir, write_text
from workbench.interop.hf_config import InteropError, to_hf_config
from workbench.interop.hf_layout import ARCHITECTURES, BERT_WITH_NSP, BIAS_ALIASES, model_pairs
from workbench.interop.kinds import kind_of
from workbench.tokenization.export import set_model_max_length

TOKENIZER_SKIP = {"manifest.json", "workbench_tokenizer.json"}


def _has_pooler(model: nn.Module, kind: str) -> bool:
    encoder = model if kind == "encoder" else model.encoder
    return encoder.pooler is not None


def transformers_state_dict(model: nn.Module) -> Tuple[str, Dict[str, torch.Tensor]]:
    """(architecture name, transformers state dict) of a workbench model. Raises InteropError when a tensor
    has no place in transformers' layout."""
    kind = kind_of(model)
    config = model.config
    to_hf_config(config)  # validates
    nsp = kind == "pretraining" and model.nsp_head is not None
    architecture = BERT_WITH_NSP if nsp else ARCHITECTURES[(config.family, kind)]
    ours = model.state_dict()
    theirs: Dict[str, torch.Tensor] = {}
    used = set()
    for our_key, their_keys in model_pairs(config, kind, _has_pooler(model, kind), nsp):
        tensor = ours[our_key].detach()
        used.add(our_key)
        for their_key, part in zip(their_keys, tensor.chunk(len(their_keys), dim=0)):
            theirs[their_key] = part.clone().contiguous()
        alias = BIAS_ALIASES.get(their_keys[0])
        if alias:
            theirs[alias] = theirs[their_keys[0]]
    if config.family == "flaubert" and config.position_embedding == "sinusoidal":
        prefix = "" if kind == "encoder" else "transformer."
        encoder = model if kind == "encoder" else model.encoder
        theirs[prefix + "position_embeddings.weight"] = encoder.embeddings.sinusoidal.clone()
    left = sorted(set(ours) - used)
    if left:
        raise InteropError(f"tensors without a transformers counterpart: {left[:10]}")
    return architecture, theirs


def to_transformers_model(model: nn.Module, labels: Optional[Sequence[str]] = None):
    """The equivalent transformers model object (in memory, eval mode)."""
    try:
        import transformers
    except ImportError as error:  # pragma: no cover
        raise InteropError("exporting to transformers needs the transformers package (pip install transformers)") from error
    kind = kind_of(model)
    architecture, state = transformers_state_dict(model)
    fields = to_hf_config(model.config)
    model_type = fields.pop("model_type")
    extra = {"architectures": [architecture]}
    if kind in ("sequence_classification", "token_classification"):
        num_labels = model.num_labels
        names = list(labels) if labels is not None else [f"LABEL_{i}" for i in range(num_labels)]
        if len(names) != num_labels:
            raise InteropError(f"{len(names)} label names for a model with {num_labels} labels")
        extra["id2label"] = dict(enumerate(names))
        extra["label2id"] = {name: i for i, name in enumerate(names)}
        if kind == "sequence_classification" and num_labels == 1:
            extra["problem_type"] = "regression"
    hf_config = transformers.AutoConfig.for_model(model_type, **fields, **extra)
    hf_class = getattr(transformers, architecture)
    if kind == "encoder" and not _has_pooler(model, kind):
        hf_model = hf_class(hf_config, add_pooling_layer=False)
    else:
        hf_model = hf_class(hf_config)
    result = hf_model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise InteropError(
            f"{architecture} does not accept the converted weights: missing {result.missing_keys[:10]},"
            f" unexpected {result.unexpected_keys[:10]}"
        )
    return hf_model.eval()


def export_to_transformers(
    model: nn.Module,
    directory: str | Path,
    tokenizer_dir: Optional[str | Path] = None,
    labels: Optional[Sequence[str]] = None,
    overwrite: bool = False,
    extra_files: Optional[Mapping[str, str]] = None,
) -> Path:
    """Write ``directory`` (atomically) so that ``transformers.AutoModel*.from_pretrained(directory)`` gives the
    same outputs. ``tokenizer_dir``: a workbench tokenizer folder whose transformers files are copied in.
    ``labels``: class names of a classification model (``id2label``). ``extra_files``: name -> text written
    in the folder too (the model card)."""
    hf_model = to_transformers_model(model, labels)
    directory = Path(directory)
    with atomic_dir(directory, overwrite=overwrite) as tmp:
        hf_model.save_pretrained(str(tmp), safe_serialization=True)
        if tokenizer_dir is not None:
            copy_tokenizer_files(tokenizer_dir, tmp, model.config.max_positions)
        for name, text in (extra_files or {}).items():
            write_text(tmp / name, text)
    return directory


def copy_tokenizer_files(tokenizer_dir: Path, target: Path, max_positions: int) -> None:
    """The transformers files of a workbench tokenizer folder, with the model's real ``model_max_length``."""
    tokenizer_dir = Path(tokenizer_dir)
    if not (tokenizer_dir / "tokenizer.json").exists():
        raise InteropError(f"{tokenizer_dir} is not a tokenizer folder (no tokenizer.json)")
    for item in tokenizer_dir.iterdir():
        if item.is_file() and item.name not in TOKENIZER_SKIP:
            shutil.copy2(item, target / item.name)
    set_model_max_length(target, max_positions)
