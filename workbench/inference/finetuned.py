"""A fine-tuned transformers folder for ``predict``: its task head, label names, decoding and the task settings
its features are built with.

An ``eval`` job's ``<run folder>/transformers`` carries a ``workbench`` block in ``config.json``
(``workbench.evaluation.export_finetuned``): the task kind, lengths, QA decoding, the tokenizer's workbench meta
and the multi-label threshold, so ``predict`` builds the same features and decodes the same way as the job did.
Another transformers folder with a task head (``*ForSequenceClassification``, ``*ForTokenClassification``,
``*ForQuestionAnswering``) works too: its kind comes from ``architectures`` and ``problem_type``, its labels from
``id2label``, its tokenizer through transformers; the task settings are workbench's defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.export_finetuned import AUTO_CLASSES, THRESHOLD_KEY, WORKBENCH_KEY
from workbench.evaluation.kinds import head_kind
from workbench.evaluation.models import TaskModel
from workbench.inference.model_loading import InferenceError
from workbench.interop.hf_config import InteropError
from workbench.interop.transformers_tokenizer import tokenizer_from_transformers, usable_positions
from workbench.tokenization.tokenizer import Tokenizer

DEFAULT_THRESHOLD = 0.5  # a multi-label folder that records none: sigmoid(logit) >= 0.5


@dataclass
class FinetunedModel:
    path: Path
    model: TaskModel
    tokenizer: Tokenizer
    settings: Dict[str, Any]  # TaskConfig fields: kind, max_seq_len, doc_stride, n_best, max_answer_len, columns, ...
    labels: List[str]
    threshold: Optional[float]  # multi-label only

    @property
    def kind(self) -> str:
        return self.settings["kind"]

    def task(self, format: str, input_file: str, **columns: Any) -> TaskConfig:
        """The TaskConfig that reads ``input_file`` and featurizes it as the job did."""
        fields = {key: value for key, value in self.settings.items() if value is not None}
        fields.update({key: value for key, value in columns.items() if value is not None})
        metric = {"token_classification": "entity_f1", "extractive_qa": "squad"}.get(self.kind)
        if self.kind == "multilabel_classification":
            metric = fields.get("metric", "micro_f1")
        fields["metric"] = metric or "accuracy"
        fields.setdefault("name", self.path.name)
        allowed = {"token_classification": ("conll", "text"), "extractive_qa": ("squad_json",)}.get(
            self.kind, ("text", "tsv", "csv", "jsonl") if self.kind != "pair_classification" else ("tsv", "csv", "jsonl"))
        if format not in allowed:
            raise InferenceError(
                f"predict.input_file={input_file}: {self.path} is a {self.kind} model; give a {' or '.join(allowed)} file"
                f" (predict.format={format}; set predict.format to read it otherwise)"
                + ("; a pair model needs both texts: predict.text_column, predict.pair_column" if self.kind == "pair_classification" else "")
            )
        # plain text is read by predict itself (token models: words split at white space), never by a task reader
        file_format = {"token_classification": "conll", "extractive_qa": "squad_json"}.get(self.kind, "tsv" if format == "text" else format)
        try:
            return TaskConfig(**fields, format=file_format, train=input_file, dev=input_file, labels=list(self.labels))
        except ValueError as error:
            raise InferenceError(f"predict: {self.path} cannot read {input_file} as {format}: {error}") from None


def _kind_from_architecture(config: Dict[str, Any], path: Path) -> str:
    architecture = (config.get("architectures") or [""])[0]
    if architecture.endswith("ForSequenceClassification"):
        return "multilabel_classification" if config.get("problem_type") == "multi_label_classification" else "classification"
    if architecture.endswith("ForTokenClassification"):
        return "token_classification"
    if "ForQuestionAnswering" in architecture:
        return "extractive_qa"
    raise InferenceError(
        f"{path}: {architecture or 'a model without architectures'} has no task head; predict applies a fine-tuned"
        " folder (an eval job's <run folder>/transformers, or a transformers *ForSequenceClassification,"
        " *ForTokenClassification or *ForQuestionAnswering folder); use fill-mask or embed for a pretrained model"
    )


def _workbench_tokenizer(path: Path, meta: Dict[str, Any]) -> Tokenizer:
    """The exact tokenizer the job used: the folder's tokenizer.json with the workbench meta recorded in config.json."""
    from tokenizers import Tokenizer as HFTokenizer

    backend = HFTokenizer.from_file(str(path / "tokenizer.json"))
    backend.no_truncation()
    backend.no_padding()
    return Tokenizer(backend, meta, path)


def _pretrained_only(path: Path) -> bool:
    """A pretraining run, its model/ folder or one of its checkpoints (``workbench.interop.model_source``): weights
    with a masked-LM head only."""
    from workbench.interop.model_source import ModelSourceError, checkpoint_folder, resolve_model_source

    try:
        return resolve_model_source(path, "predict.model").is_workbench
    except ModelSourceError:
        return checkpoint_folder(path) is not None  # a step the run does not have: still a checkpoint


def load_finetuned(model: Optional[str]) -> FinetunedModel:
    if not model:
        raise InferenceError("predict needs predict.model=<folder> (e.g. evals/runs/<model>/<task>/<hash>/seed-0/transformers)")
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        hint = " (an eval job's run folder: its model is in transformers/)" if (path / "transformers" / "config.json").is_file() else ""
        if _pretrained_only(path):
            hint = (" (a pretrained encoder without a task head: fine-tune it first, python -m workbench eval"
                    f" task=<task> finetune.model={model}, then predict with the job's transformers/ folder)")
        raise InferenceError(f"predict.model={model}: no config.json there{hint}; point it at a fine-tuned transformers folder")
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    block = config.get(WORKBENCH_KEY) or {}
    settings = dict(block.get("task") or {})
    settings.setdefault("kind", _kind_from_architecture(config, path))
    kind = settings["kind"]
    import transformers

    try:
        hf = getattr(transformers, AUTO_CLASSES[kind]).from_pretrained(str(path)).eval()
    except Exception as error:  # transformers raises several types for folders it cannot read
        raise InferenceError(f"{path}: cannot load it as {AUTO_CLASSES[kind]} ({type(error).__name__}: {error})") from None
    try:
        tokenizer = _workbench_tokenizer(path, block["tokenizer"]) if "tokenizer" in block else tokenizer_from_transformers(path)[0]
    except (InteropError, ValueError, OSError) as error:
        raise InferenceError(f"{path}: cannot load its tokenizer ({error})") from None
    labels: List[str] = []
    if kind != "extractive_qa":
        id2label = hf.config.id2label
        labels = [str(id2label[i]) for i in range(len(id2label))]
    positions = usable_positions(hf.config)
    settings["max_seq_len"] = min(int(settings.get("max_seq_len") or positions), positions)
    threshold = float(config.get(THRESHOLD_KEY, DEFAULT_THRESHOLD)) if kind == "multilabel_classification" else None
    base = getattr(hf, "base_model", hf)
    return FinetunedModel(path, TaskModel(hf, "transformers", head_kind(kind), base), tokenizer, settings, labels, threshold)
