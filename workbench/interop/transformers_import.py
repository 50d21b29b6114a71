"""Import a transformers folder (BERT, RoBERTa, CamemBERT, FlauBERT) as a workbench model, losslessly.

Reads ``config.json`` and the weights (``model.safetensors``, sharded safetensors, or ``pytorch_model.bin``
through ``torch.load(weights_only=True)``: never executes pickled code). transformers itself is not needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch import nn

from workbench.interop.hf_config import InteropError, from_hf_config
from workbench.interop.hf_layout import ARCHITECTURES, BASE_PREFIX, BERT_WITH_NSP, BIAS_ALIASES, model_pairs
from workbench.interop.kinds import build
from workbench.model.config import EncoderConfig

IGNORED_SUFFIXES = ("position_ids", "token_type_ids")  # buffers some checkpoints store
KIND_BY_ARCHITECTURE = {name: kind for (family, kind), name in ARCHITECTURES.items()}
KIND_BY_ARCHITECTURE[BERT_WITH_NSP] = "pretraining"
KIND_BY_ARCHITECTURE["FlaubertForQuestionAnswering"] = "unsupported"


@dataclass
class ImportedModel:
    model: nn.Module  # Encoder, PretrainingModel, SequenceClassifier, TokenClassifier or SpanExtractor
    config: EncoderConfig
    kind: str
    architecture: str
    labels: Optional[List[str]]  # id2label of classification models


def read_transformers_weights(directory: str | Path) -> Dict[str, torch.Tensor]:
    """All tensors of a transformers folder, without running pickled code."""
    from safetensors.torch import load_file

    directory = Path(directory)
    single = directory / "model.safetensors"
    if single.exists():
        return load_file(str(single))
    index = directory / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        state: Dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(str(directory / shard)))
        return state
    legacy = directory / "pytorch_model.bin"
    if legacy.exists():
        try:
            return torch.load(str(legacy), map_location="cpu", weights_only=True)
        except Exception as error:  # unpickling refused: not plain tensors
            raise InteropError(f"{legacy}: not a plain tensor checkpoint ({error}); convert it to safetensors") from None
    raise InteropError(f"{directory}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")


def _architecture(data: Dict, state: Dict[str, torch.Tensor], source: Path) -> str:
    names = data.get("architectures") or []
    if names:
        return names[0]
    family = data.get("model_type")
    if family in ("bert", "roberta", "camembert", "flaubert"):
        return ARCHITECTURES[(family, "encoder")]
    raise InteropError(f"{source}: no architectures and unknown model_type {family!r}")


def import_from_transformers(directory: str | Path) -> ImportedModel:
    """Build the workbench model equivalent to the transformers checkpoint in ``directory``."""
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.exists():
        raise InteropError(f"{directory} is not a transformers model folder (no config.json)")
    data = json.loads(config_path.read_text(encoding="utf-8"))
    state = {k: v for k, v in read_transformers_weights(directory).items() if not k.endswith(IGNORED_SUFFIXES)}
    architecture = _architecture(data, state, config_path)
    kind = KIND_BY_ARCHITECTURE.get(architecture)
    if kind is None or kind == "unsupported":
        raise InteropError(
            f"{config_path}: architecture {architecture} is not supported; supported: {sorted(KIND_BY_ARCHITECTURE)}"
        )
    family = data.get("model_type")
    # a bare model saved with or without its base prefix ("bert.embeddings..." vs "embeddings...")
    prefix = BASE_PREFIX.get(family, "")
    if kind == "encoder" and any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    base = "" if kind == "encoder" else prefix
    has_pooler = f"{base}pooler.dense.weight" in state
    config = from_hf_config(data, has_pooler=has_pooler, source=str(config_path))
    nsp = "cls.seq_relationship.weight" in state
    labels = None
    num_labels = None
    if kind in ("sequence_classification", "token_classification"):
        id2label = data.get("id2label") or {}
        num_labels = len(id2label) if id2label else data.get("num_labels", 2)
        labels = [id2label[str(i)] if str(i) in id2label else id2label.get(i) for i in range(num_labels)] if id2label else None
    model = build(kind, config, nsp=nsp, num_labels=num_labels, with_pooler=has_pooler)
    ours: Dict[str, torch.Tensor] = {}
    used = set()
    for our_key, their_keys in model_pairs(config, kind, has_pooler, nsp):
        missing = [k for k in their_keys if k not in state]
        if missing and our_key == "mlm_head.decoder.weight" and config.tie_word_embeddings:
            # transformers leaves the tied decoder weight out of the file
            ours[our_key] = ours["encoder.embeddings.word_embeddings.weight"]
            continue
        if missing:
            raise InteropError(f"{directory}: checkpoint lacks {missing} (needed for {our_key})")
        ours[our_key] = torch.cat([state[k] for k in their_keys], dim=0) if len(their_keys) > 1 else state[their_keys[0]]
        used.update(their_keys)
        alias = BIAS_ALIASES.get(their_keys[0])
        if alias:
            used.add(alias)
    if config.family == "flaubert" and config.position_embedding == "sinusoidal":
        used.add(f"{base}position_embeddings.weight")
    if config.tie_word_embeddings and kind == "pretraining":
        if not torch.equal(ours["mlm_head.decoder.weight"], ours["encoder.embeddings.word_embeddings.weight"]):
            raise InteropError(
                f"{config_path}: tie_word_embeddings is true but the decoder weight differs from the word embeddings"
            )
    unused = sorted(set(state) - used)
    if unused:
        raise InteropError(f"{directory}: tensors the workbench model has no place for: {unused[:10]}")
    expected = model.state_dict()
    for key, tensor in ours.items():
        if key in expected and tuple(expected[key].shape) != tuple(tensor.shape):
            raise InteropError(f"{directory}: {key} has shape {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}")
    model.load_state_dict(ours, strict=True)
    return ImportedModel(model.eval(), config, kind, architecture, labels)
