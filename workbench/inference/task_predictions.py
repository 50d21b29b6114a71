"""Predictions of a fine-tuned model on a stream of examples, with their scores, as jsonl records.

Examples are featurized, run and decoded in chunks (``CHUNK_BATCHES`` batches at a time) with the same functions
as the ``eval`` job (``task_features``, ``model_outputs``, the decoders of ``workbench.evaluation``), so a file
gets the predictions the job wrote for it. One record per example, in input order:

- classification: ``label``, ``score`` (its softmax probability), ``scores`` (every label's);
- multi-label: ``labels`` (sigmoid(logit) >= ``threshold``), ``scores`` (every label's sigmoid), ``threshold``;
- token classification: ``tokens``, ``tags`` (IOB2), ``scores`` (per word, the softmax probability of its tag);
- extractive QA: ``id``, ``question``, ``answer``, ``score`` (start + end logit of the span, the ranking score).
"""

from __future__ import annotations

import itertools
from typing import Any, Dict, Iterable, Iterator, List

import numpy as np
import torch

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.examples import Example
from workbench.evaluation.features.predictions import scored_qa_predictions, scored_token_predictions
from workbench.evaluation.kinds import task_features
from workbench.evaluation.metrics.threshold import sigmoid
from workbench.evaluation.predict import model_outputs, multilabel_predictions
from workbench.inference.finetuned import FinetunedModel

CHUNK_BATCHES = 16  # batches featurized and decoded together (memory stays flat whatever the file's size)


def _softmax(rows: np.ndarray) -> np.ndarray:
    shifted = np.exp(rows - rows.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def _where(example: Example) -> str:
    return example.source.rsplit(":", 1)[-1] if example.source else ""


def chunk_records(model: FinetunedModel, task: TaskConfig, examples: List[Example], batch_size: int) -> List[Dict[str, Any]]:
    """The records of one chunk of examples."""
    features = task_features(task, examples, model.tokenizer, model.labels)
    outputs = model_outputs(model.model, features, batch_size, torch.device("cpu"), model.tokenizer.pad_id)
    labels = model.labels
    if task.kind == "token_classification":
        tags, scores = scored_token_predictions(examples, features, outputs.logits, labels)  # type: ignore[arg-type]
        return [{"line": _where(e), "tokens": list(e.tokens), "tags": t, "scores": s}  # type: ignore[union-attr]
                for e, t, s in zip(examples, tags, scores)]
    if task.kind == "extractive_qa":
        answers, scores = scored_qa_predictions(examples, features, outputs.start_logits, outputs.end_logits,  # type: ignore[arg-type]
                                                task.n_best, task.max_answer_len)
        return [{"id": e.id, "question": e.question, "answer": a, "score": s}  # type: ignore[union-attr]
                for e, a, s in zip(examples, answers, scores)]
    logits = np.stack(outputs.logits).astype(np.float64)  # type: ignore[arg-type]
    records = []
    if task.kind == "multilabel_classification":
        assert model.threshold is not None
        chosen = multilabel_predictions(list(logits), labels, model.threshold)
        for example, row, names in zip(examples, sigmoid(logits), chosen):
            records.append({"line": _where(example), "text": example.text, **({"pair": example.pair} if example.pair else {}),  # type: ignore[union-attr]
                            "labels": names, "scores": dict(zip(labels, map(float, row))), "threshold": model.threshold})
        return records
    for example, row in zip(examples, _softmax(logits)):
        best = int(np.argmax(row))
        records.append({"line": _where(example), "text": example.text, **({"pair": example.pair} if example.pair else {}),  # type: ignore[union-attr]
                        "label": labels[best], "score": float(row[best]), "scores": dict(zip(labels, map(float, row)))})
    return records


def predict_records(model: FinetunedModel, task: TaskConfig, examples: Iterable[Example], batch_size: int) -> Iterator[Dict[str, Any]]:
    """Records in input order, a chunk at a time."""
    iterator = iter(examples)
    while True:
        chunk = list(itertools.islice(iterator, batch_size * CHUNK_BATCHES))
        if not chunk:
            return
        yield from chunk_records(model, task, chunk, batch_size)

