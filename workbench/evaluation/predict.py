"""Model outputs for a list of features (length-sorted batches, outputs back in feature order), the decision rule
tuned on dev (multi-label threshold), predictions and their scores."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager, Dict, List, Optional, Sequence

import numpy as np
import torch

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.examples import Example, MultiLabelExample
from workbench.evaluation.features.batching import sorted_batches
from workbench.evaluation.features.collate import collate
from workbench.evaluation.features.feature import Feature
from workbench.evaluation.features.predictions import classification_predictions, qa_predictions, token_predictions
from workbench.evaluation.metrics import score_split
from workbench.evaluation.metrics.multilabel import indicator
from workbench.evaluation.metrics.threshold import sigmoid, tune_threshold
from workbench.evaluation.models import TaskModel


@dataclass
class RawOutputs:
    logits: Optional[List[np.ndarray]] = None  # per feature: [L] or [T, L]
    start_logits: Optional[List[np.ndarray]] = None  # per feature: [T]
    end_logits: Optional[List[np.ndarray]] = None


@torch.no_grad()
def model_outputs(
    model: TaskModel,
    features: Sequence[Feature],
    batch_size: int,
    device: torch.device,
    pad_id: int,
    pad_to_multiple_of: int = 8,
    autocast: Callable[[], ContextManager] = contextlib.nullcontext,
) -> RawOutputs:
    was_training = model.training
    model.eval()
    n = len(features)
    logits: List[Optional[np.ndarray]] = [None] * n
    starts: List[Optional[np.ndarray]] = [None] * n
    ends: List[Optional[np.ndarray]] = [None] * n
    for batch_indices in sorted_batches([len(f) for f in features], batch_size):
        chunk = [features[i] for i in batch_indices]
        batch = collate(chunk, pad_id, pad_to_multiple_of)
        batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()
                 if key in ("input_ids", "attention_mask", "token_type_ids")}
        with autocast():
            out = model(batch)
        if out.logits is not None:
            values = out.logits.float().cpu().numpy()
            for row, index in enumerate(batch_indices):
                logits[index] = values[row, : len(features[index])] if values.ndim == 3 else values[row]
        else:
            start_values = out.start_logits.float().cpu().numpy()
            end_values = out.end_logits.float().cpu().numpy()
            for row, index in enumerate(batch_indices):
                starts[index] = start_values[row, : len(features[index])]
                ends[index] = end_values[row, : len(features[index])]
    model.train(was_training)
    if model.kind == "extractive_qa":
        return RawOutputs(start_logits=starts, end_logits=ends)  # type: ignore[arg-type]
    return RawOutputs(logits=logits)  # type: ignore[arg-type]


Decoding = Dict[str, float]  # decision parameters chosen on dev and applied to every split: {"threshold": t} or {}


def tune_decoding(task: TaskConfig, examples: Sequence[Example], outputs: RawOutputs, labels: Sequence[str]) -> Decoding:
    """The decision rule of ``task`` chosen on these (dev) outputs: multi-label classification's threshold
    (``task.threshold`` when set, else the one maximizing ``task.metric``); nothing for the other kinds."""
    if task.kind != "multilabel_classification":
        return {}
    if task.threshold is not None:
        return {"threshold": float(task.threshold)}
    gold = indicator([e.labels or () for e in examples if isinstance(e, MultiLabelExample)], labels)
    return {"threshold": tune_threshold(sigmoid(np.stack(outputs.logits)), gold, task.metric).threshold}  # type: ignore[arg-type]


def multilabel_predictions(logits: Sequence[np.ndarray], labels: Sequence[str], threshold: float) -> List[List[str]]:
    """The labels whose probability sigmoid(logit) is >= ``threshold``, in label order."""
    if not len(logits):
        return []
    chosen = sigmoid(np.stack(logits)) >= threshold
    return [[labels[i] for i in np.flatnonzero(row)] for row in chosen]


def decode_predictions(
    task: TaskConfig, examples: Sequence[Example], features: Sequence[Feature], outputs: RawOutputs, labels: Sequence[str],
    decoding: Optional[Decoding] = None,
) -> List[object]:
    """One prediction per example: label name, list of label names (multi-label; ``decoding`` holds the
    threshold from ``tune_decoding``), IOB2 tag list, or answer text."""
    if task.kind in ("classification", "pair_classification"):
        return classification_predictions(outputs.logits, labels)  # type: ignore[arg-type]
    if task.kind == "multilabel_classification":
        if not decoding or "threshold" not in decoding:
            raise ValueError("multi-label predictions need the threshold tuned on dev (tune_decoding)")
        return multilabel_predictions(outputs.logits, labels, decoding["threshold"])  # type: ignore[arg-type]
    if task.kind == "token_classification":
        return token_predictions(examples, features, outputs.logits, labels)  # type: ignore[arg-type]
    return qa_predictions(examples, features, outputs.start_logits, outputs.end_logits, task.n_best, task.max_answer_len)  # type: ignore[arg-type]


def score_predictions(task: TaskConfig, examples: Sequence[Example], predictions: Sequence[object], labels: Sequence[str] = ()):
    return score_split(task.metric, examples, predictions, task.squad_normalization, labels)
