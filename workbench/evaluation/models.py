"""The model to fine-tune: a workbench model folder or a transformers model folder, with the task's head.

Workbench folders (``model.safetensors`` + ``model_config.json`` + ``tokenizer/``)
give ``SequenceClassifier`` / ``TokenClassifier`` / ``SpanExtractor`` with the
pretrained ``encoder.*`` weights and a fresh head. A transformers folder
(``config.json`` + weights + tokenizer files) gives the matching
``AutoModelFor*`` class with a fresh head, and its fast tokenizer wrapped as a
workbench ``Tokenizer``. Both are driven by the same loop through
``TaskModel.forward``, which returns a loss and the logits.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from workbench.artifacts.model_folder import is_model_folder, load_model_folder
from workbench.evaluation.errors import FinetuneError
from workbench.tokenization.tokenizer import Tokenizer

TRANSFORMERS_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
_ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert", "xlm_roberta")


@dataclass
class Outputs:
    loss: Optional[torch.Tensor]
    logits: Optional[torch.Tensor] = None  # [B, L] or [B, T, L]
    start_logits: Optional[torch.Tensor] = None  # [B, T]
    end_logits: Optional[torch.Tensor] = None


class TaskModel(nn.Module):
    """An encoder with a task head behind one forward signature (``batch`` dict from ``collate``)."""

    def __init__(self, model: nn.Module, backend: str, kind: str, encoder: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.backend = backend  # "workbench" | "transformers"
        self.kind = kind
        self.encoder_module = [encoder]  # list: not registered twice as a submodule
        parameters = inspect.signature(model.forward).parameters
        self._accepts_types = "token_type_ids" in parameters

    @property
    def encoder(self) -> nn.Module:
        return self.encoder_module[0]

    def forward(self, batch: Dict[str, torch.Tensor]) -> Outputs:
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if self._accepts_types:
            inputs["token_type_ids"] = batch["token_type_ids"]
        if self.kind == "extractive_qa":
            if "start_positions" in batch:
                inputs["start_positions"] = batch["start_positions"]
                inputs["end_positions"] = batch["end_positions"]
            out = self.model(**inputs)
            return Outputs(out.loss, start_logits=out.start_logits, end_logits=out.end_logits)
        if "labels" in batch:
            inputs["labels"] = batch["labels"]
        out = self.model(**inputs)
        return Outputs(out.loss, logits=out.logits)


@dataclass
class LoadedForTask:
    model: TaskModel
    tokenizer: Tokenizer
    checkpoint_hash: str
    name: str  # default leaderboard label
    max_positions: int  # longest input the model accepts
    source: str  # "workbench" | "transformers"


def default_model_name(path: Path) -> str:
    """The folder name; for ``runs/<run>/model`` the run's name."""
    path = path.resolve()
    return path.parent.name if path.name == "model" else path.name


def _file_hash(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _workbench(path: Path, kind: str, num_labels: int) -> LoadedForTask:
    from workbench.model.finetuning import SequenceClassifier, SpanExtractor, TokenClassifier
    from workbench.model.loading import WeightsMismatchError, load_encoder_weights

    loaded = load_model_folder(path)
    config = loaded.encoder_config
    if kind in ("classification", "pair_classification"):
        model: nn.Module = SequenceClassifier(config, num_labels)
    elif kind == "token_classification":
        model = TokenClassifier(config, num_labels)
    else:
        model = SpanExtractor(config)
    try:
        load_encoder_weights(model, loaded.state_dict)
    except WeightsMismatchError as error:
        raise FinetuneError(f"{path}: {error}") from None
    checkpoint = loaded.weights_hash or _file_hash([path / "model.safetensors"])
    return LoadedForTask(
        TaskModel(model, "workbench", kind, model.encoder), loaded.tokenizer, checkpoint, default_model_name(path),
        config.max_positions, "workbench",
    )


def tokenizer_from_transformers(path: Path) -> Tuple[Tokenizer, str]:
    """The fast tokenizer of a transformers folder as a workbench ``Tokenizer`` (same ids); returns (tokenizer, model_type)."""
    from transformers import AutoTokenizer

    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    model_type = str(config.get("model_type", "bert"))
    try:
        hf = AutoTokenizer.from_pretrained(str(path), use_fast=True)
    except Exception as error:  # transformers raises OSError/ValueError/... for missing or unconvertible files
        raise FinetuneError(f"{path}: cannot load its tokenizer ({type(error).__name__}: {error})") from None
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise FinetuneError(f"{path}: no fast tokenizer (tokenizer.json); offsets for QA/NER need one")
    specials = {}
    for key, attribute in (("pad", "pad_token"), ("unk", "unk_token"), ("cls", "cls_token"), ("sep", "sep_token"), ("mask", "mask_token")):
        token = getattr(hf, attribute, None)
        if token is None and key in ("cls", "sep"):
            token = getattr(hf, "bos_token" if key == "cls" else "eos_token", None)
        if token is None:
            token = hf.unk_token if key in ("mask", "pad") else None
        if token is None:
            raise FinetuneError(f"{path}: the tokenizer has no {attribute}; it cannot build classifier inputs")
        specials[key] = str(token)
    backend.no_truncation()  # transformers folders often save a truncation/padding setting: features do their own
    backend.no_padding()
    family = "roberta" if model_type in _ROBERTA_LIKE else "flaubert" if model_type in ("flaubert", "xlm") else "bert"
    model_kind = json.loads(backend.to_str()).get("model", {}).get("type", "unknown").lower()
    meta = {"family": family, "algorithm": model_kind, "special_tokens": specials}
    return Tokenizer(backend, meta, path), model_type


def _transformers(path: Path, kind: str, num_labels: int) -> LoadedForTask:
    import transformers

    tokenizer, _ = tokenizer_from_transformers(path)
    classes = {
        "classification": transformers.AutoModelForSequenceClassification,
        "pair_classification": transformers.AutoModelForSequenceClassification,
        "token_classification": transformers.AutoModelForTokenClassification,
        "extractive_qa": transformers.AutoModelForQuestionAnswering,
    }
    kwargs = {} if kind == "extractive_qa" else {"num_labels": num_labels}
    try:
        model = classes[kind].from_pretrained(str(path), **kwargs)
    except Exception as error:
        raise FinetuneError(f"{path}: cannot build a {kind} model from it ({type(error).__name__}: {error})") from None
    config = model.config
    max_positions = int(getattr(config, "max_position_embeddings", 512))
    if getattr(config, "model_type", "") in _ROBERTA_LIKE:
        max_positions -= int(getattr(config, "pad_token_id", 1) or 0) + 1  # positions start after padding_idx
    weights = sorted(p for p in path.iterdir() if p.name in TRANSFORMERS_WEIGHTS or p.name.startswith("model-0"))
    base = getattr(model, "base_model", model)
    return LoadedForTask(
        TaskModel(model, "transformers", kind, base), tokenizer, _file_hash(weights) if weights else "unknown",
        default_model_name(path), max_positions, "transformers",
    )


def load_for_task(path: str | Path, kind: str, num_labels: int) -> LoadedForTask:
    """The model at ``path`` (workbench model folder, pretraining run folder, or transformers folder) with a fresh head."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FinetuneError(f"model folder {path} does not exist (finetune.model)")
    if not is_model_folder(path) and is_model_folder(path / "model"):
        path = path / "model"  # a pretraining run folder: its final model
    if is_model_folder(path):
        return _workbench(path, kind, num_labels)
    if (path / "config.json").exists():
        return _transformers(path, kind, num_labels)
    raise FinetuneError(
        f"{path} is neither a workbench model folder (model.safetensors + manifest.json) nor a transformers"
        " folder (config.json); point finetune.model at runs/<run>/model or a saved transformers model"
    )
