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

import dataclasses
import hashlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

from workbench.artifacts.model_folder import load_model_folder
from workbench.artifacts.provenance import config_hash
from workbench.evaluation.checkpoints import checkpoint_name, load_run_checkpoint
from workbench.evaluation.config import INITS
from workbench.evaluation.dropout import Dropout
from workbench.evaluation.errors import FinetuneError
from workbench.evaluation.weights_identity import encoder_weights_id, transformers_weights_id
from workbench.interop.model_source import TRANSFORMERS_WEIGHTS, ModelSourceError, folder_label, resolve_model_source
from workbench.interop.transformers_tokenizer import tokenizer_from_transformers, usable_positions
from workbench.tokenization.tokenizer import Tokenizer



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
    source: str  # "workbench" | "transformers" | "fairseq"
    init: str = "pretrained"  # "random": the family's initialisation, no pretrained weight loaded
    pretraining: Optional[Dict[str, int]] = None  # a pretraining checkpoint: {"step": N, "tokens": T}
    run: Optional[str] = None  # the pretraining run a checkpoint belongs to
    weights_id: str = ""  # the encoder weights in any folder format (weights_identity); '' for random init


def default_model_name(path: Path) -> str:
    """The folder name; for ``runs/<run>/model`` the run's name."""
    return folder_label(path)


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


def random_init_hash(architecture: Any, tokenizer: Tokenizer) -> str:
    """The checkpoint hash of a random-init row: the architecture and vocabulary (no weights; the seed is the
    job's own), so every random-init job of one architecture and tokenizer shares it."""
    vocabulary = hashlib.sha256(tokenizer.backend.to_str().encode("utf-8")).hexdigest()
    return "init-" + config_hash({"architecture": architecture, "tokenizer": vocabulary})[:11]


def _encoder_task_model(config, tokenizer: Tokenizer, state_dict, kind: str, num_labels: int, init: str, where: Path,
                        dropout: Dropout):
    """The workbench fine-tuning model (fresh head) with ``state_dict``'s encoder weights, or with the
    encoder's own initialisation (the one pretraining starts from, drawn from torch's seeded RNG) when
    ``init="random"``."""
    from workbench.model.encoder import Encoder
    from workbench.model.loading import WeightsMismatchError, load_encoder_weights

    config = dropout.applied_to(config)  # dropout has no weights: the random draw below does not depend on it
    if init == "random":  # drawn first, exactly as pretraining's step 0 (PretrainingModel builds Encoder(config) first)
        state_dict = {f"encoder.{k}": v for k, v in Encoder(config, add_pooler=False).state_dict().items()}
    model = _with_head(config, kind, num_labels)
    try:
        load_encoder_weights(model, state_dict)
    except WeightsMismatchError as error:
        raise FinetuneError(f"{where}: {error}") from None
    return TaskModel(model, "workbench", kind, model.encoder)


def _workbench(path: Path, kind: str, num_labels: int, init: str, dropout: Dropout) -> LoadedForTask:
    loaded = load_model_folder(path)
    config = loaded.encoder_config
    model = _encoder_task_model(config, loaded.tokenizer, loaded.state_dict, kind, num_labels, init, path, dropout)
    if init == "random":
        checkpoint, weights = random_init_hash(dataclasses.asdict(config), loaded.tokenizer), ""
    else:
        checkpoint = loaded.weights_hash or _file_hash([path / "model.safetensors"])
        weights = encoder_weights_id(loaded.state_dict, config)
    return LoadedForTask(model, loaded.tokenizer, checkpoint, default_model_name(path), config.max_positions, "workbench", init,
                         weights_id=weights)


def _checkpoint(path: Path, kind: str, num_labels: int, init: str, dropout: Dropout) -> LoadedForTask:
    """One checkpoint of a pretraining run (``runs/<run>/checkpoints/step-N``): named ``<run>@<step>``; its random
    init is the run's (``<run> (random init)``), the same for every checkpoint."""
    loaded = load_run_checkpoint(path)
    config = loaded.encoder_config
    model = _encoder_task_model(config, loaded.tokenizer, loaded.state_dict, kind, num_labels, init, path, dropout)
    run = path.parent.parent.name
    if init == "random":
        checkpoint, name, position = random_init_hash(dataclasses.asdict(config), loaded.tokenizer), run, None
        weights = ""
    else:
        checkpoint, name, position = loaded.weights_hash, checkpoint_name(path), loaded.position()
        weights = encoder_weights_id(loaded.state_dict, config)
    return LoadedForTask(model, loaded.tokenizer, checkpoint, name, config.max_positions, "workbench", init, position, run,
                         weights_id=weights)


def _fairseq(path: Path, kind: str, num_labels: int, init: str, dropout: Dropout) -> LoadedForTask:
    """A fairseq RoBERTa/CamemBERT folder (model.pt + dict.txt + sentencepiece.bpe.model), imported exactly."""
    from workbench.interop.fairseq_import import import_fairseq
    from workbench.interop.hf_config import InteropError

    try:
        imported = import_fairseq(path)
    except InteropError as error:
        raise FinetuneError(str(error)) from None
    config = imported.config
    model = _encoder_task_model(config, imported.tokenizer, imported.model.state_dict(), kind, num_labels, init, path, dropout)
    checkpoint = imported.checkpoint_sha256[:16] if init == "pretrained" else random_init_hash(dataclasses.asdict(config), imported.tokenizer)
    weights = encoder_weights_id(imported.model.state_dict(), config) if init == "pretrained" else ""
    return LoadedForTask(model, imported.tokenizer, checkpoint, default_model_name(path), config.max_positions, "fairseq", init,
                         weights_id=weights)


def _transformers(path: Path, kind: str, num_labels: int, init: str, dropout: Dropout) -> LoadedForTask:
    import transformers

    tokenizer, _ = tokenizer_from_transformers(path)
    classes = {
        "classification": transformers.AutoModelForSequenceClassification,
        "pair_classification": transformers.AutoModelForSequenceClassification,
        "token_classification": transformers.AutoModelForTokenClassification,
        "extractive_qa": transformers.AutoModelForQuestionAnswering,
    }
    kwargs = {} if kind == "extractive_qa" else {"num_labels": num_labels}
    kwargs.update(dropout.transformers_kwargs(transformers.AutoConfig.from_pretrained(str(path)), path))
    try:
        if init == "random":  # the class's own _init_weights (from_config), drawn from torch's seeded RNG
            model = classes[kind].from_config(transformers.AutoConfig.from_pretrained(str(path), **kwargs))
        else:
            model = classes[kind].from_pretrained(str(path), **kwargs)
    except Exception as error:
        raise FinetuneError(f"{path}: cannot build a {kind} model from it ({type(error).__name__}: {error})") from None
    config = model.config
    max_positions = usable_positions(config)
    if init == "random":
        architecture = {k: v for k, v in config.to_diff_dict().items() if k not in ("id2label", "label2id", "num_labels")}
        checkpoint = random_init_hash(architecture, tokenizer)
    else:
        weights = sorted(p for p in path.iterdir() if p.name in TRANSFORMERS_WEIGHTS or p.name.startswith("model-0"))
        checkpoint = _file_hash(weights) if weights else "unknown"
    base = getattr(model, "base_model", model)
    return LoadedForTask(
        TaskModel(model, "transformers", kind, base), tokenizer, checkpoint, default_model_name(path), max_positions,
        "transformers", init, weights_id=transformers_weights_id(path) if init == "pretrained" else "",
    )


def load_for_task(
    path: str | Path, kind: str, num_labels: int, init: str = "pretrained", dropout: Optional[Dropout] = None
) -> LoadedForTask:
    """The model at ``path`` (workbench model folder, pretraining run folder, one checkpoint of a run,
    transformers folder or fairseq folder) with a fresh head; ``init="random"``: the same architecture and
    tokenizer from the family's initialisation instead of the pretrained weights (seed torch first);
    ``dropout``: fine-tuning dropout probabilities replacing the model's own (``finetune.dropout``)."""
    dropout = dropout or Dropout()
    if init not in INITS:
        raise FinetuneError(f"finetune.init={init!r}: use one of {' | '.join(INITS)}")
    try:
        source = resolve_model_source(path, "finetune.model")
    except ModelSourceError as error:
        raise FinetuneError(str(error)) from None
    loader = {"checkpoint": _checkpoint, "workbench": _workbench, "transformers": _transformers, "fairseq": _fairseq}[source.kind]
    return loader(source.folder, kind, num_labels, init, dropout)
