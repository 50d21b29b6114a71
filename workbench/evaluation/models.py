"""The model to fine-tune: a workbench model folder or a transformers model folder, with the task's head.

Workbench folders (``model.safetensors`` + ``model_config.json`` + ``tokenizer/``)
give ``SequenceClassifier`` / ``TokenClassifier`` / ``SpanExtractor`` with the
pretrained ``encoder.*`` weights and a fresh head. A transformers folder
(``config.json`` + weights + tokenizer files) gives the matching
``AutoModelFor*`` class with a fresh head, and its fast tokenizer wrapped as a
workbench ``Tokenizer``. A fairseq RoBERTa/CamemBERT folder (``model.pt`` + ``dict.txt`` +
``sentencepiece.bpe.model``) is imported exactly (``workbench.interop.fairseq_import``) and gives the
workbench models, like a workbench folder. All are driven by the same loop through
``TaskModel.forward``, which returns a loss and the logits.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import torch
from torch import nn

from workbench.artifacts.model_folder import is_model_folder, load_model_folder
from workbench.evaluation.errors import FinetuneError
from workbench.interop.transformers_tokenizer import tokenizer_from_transformers, usable_positions
from workbench.tokenization.tokenizer import Tokenizer

TRANSFORMERS_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
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


def _with_head(config, kind: str, num_labels: int) -> nn.Module:
    """The workbench fine-tuning model of ``kind`` (fresh head) for an encoder config."""
    from workbench.model.finetuning import SequenceClassifier, SpanExtractor, TokenClassifier

    # classifiers run padding-free (the same results without compute on dynamic padding); QA does not: its
    # loss, like transformers', covers padding positions (workbench.model.finetuning)
    if kind in ("classification", "pair_classification"):
        return SequenceClassifier(config, num_labels, padding_free=True)
    if kind == "token_classification":
        return TokenClassifier(config, num_labels, padding_free=True)
    return SpanExtractor(config, padding_free=False)


def _workbench(path: Path, kind: str, num_labels: int) -> LoadedForTask:
    from workbench.model.loading import WeightsMismatchError, load_encoder_weights

    loaded = load_model_folder(path)
    config = loaded.encoder_config
    model = _with_head(config, kind, num_labels)
    try:
        load_encoder_weights(model, loaded.state_dict)
    except WeightsMismatchError as error:
        raise FinetuneError(f"{path}: {error}") from None
    checkpoint = loaded.weights_hash or _file_hash([path / "model.safetensors"])
    return LoadedForTask(
        TaskModel(model, "workbench", kind, model.encoder), loaded.tokenizer, checkpoint, default_model_name(path),
        config.max_positions, "workbench",
    )


def _fairseq(path: Path, kind: str, num_labels: int) -> LoadedForTask:
    """A fairseq RoBERTa/CamemBERT folder (model.pt + dict.txt + sentencepiece.bpe.model), imported exactly."""
    from workbench.interop.fairseq_import import import_fairseq
    from workbench.interop.hf_config import InteropError
    from workbench.model.loading import load_encoder_weights

    try:
        imported = import_fairseq(path)
    except InteropError as error:
        raise FinetuneError(str(error)) from None
    model = _with_head(imported.config, kind, num_labels)
    load_encoder_weights(model, imported.model.state_dict())
    return LoadedForTask(
        TaskModel(model, "workbench", kind, model.encoder), imported.tokenizer, imported.checkpoint_sha256[:16],
        default_model_name(path), imported.config.max_positions, "fairseq",
    )


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
    max_positions = usable_positions(config)
    weights = sorted(p for p in path.iterdir() if p.name in TRANSFORMERS_WEIGHTS or p.name.startswith("model-0"))
    base = getattr(model, "base_model", model)
    return LoadedForTask(
        TaskModel(model, "transformers", kind, base), tokenizer, _file_hash(weights) if weights else "unknown",
        default_model_name(path), max_positions, "transformers",
    )


def load_for_task(path: str | Path, kind: str, num_labels: int) -> LoadedForTask:
    """The model at ``path`` (workbench model folder, pretraining run folder, transformers folder or fairseq
    folder) with a fresh head."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FinetuneError(f"model folder {path} does not exist (finetune.model)")
    if not is_model_folder(path) and is_model_folder(path / "model"):
        path = path / "model"  # a pretraining run folder: its final model
    if is_model_folder(path):
        return _workbench(path, kind, num_labels)
    if (path / "config.json").exists():
        return _transformers(path, kind, num_labels)
    from workbench.interop.fairseq_import import is_fairseq_folder

    if is_fairseq_folder(path):
        return _fairseq(path, kind, num_labels)
    raise FinetuneError(
        f"{path} is neither a workbench model folder (model.safetensors + manifest.json), a transformers"
        " folder (config.json) nor a fairseq folder (model.pt + dict.txt); point finetune.model at"
        " runs/<run>/model, a saved transformers model or a fairseq RoBERTa/CamemBERT folder"
    )
