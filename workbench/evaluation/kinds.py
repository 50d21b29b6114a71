"""What a task kind changes above the shared features and models: the head to build, the features, the training loss.

Multi-label classification reuses the sequence-classification head (one logit
per label) and its features (without a class id); its loss is the binary
cross-entropy of every label's logit against the example's multi-hot targets,
averaged over examples and labels (transformers' ``multi_label_classification``
loss). Every other kind trains on the loss its model computes from the batch
labels (cross-entropy; span cross-entropy for QA).
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch.nn import functional as F

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.examples import Example, MultiLabelExample, TextExample
from workbench.evaluation.features import featurize
from workbench.evaluation.features.classification import classification_features
from workbench.evaluation.features.feature import Feature
from workbench.evaluation.metrics.multilabel import indicator
from workbench.evaluation.models import Outputs
from workbench.tokenization.tokenizer import Tokenizer

MULTILABEL = "multilabel_classification"


def head_kind(kind: str) -> str:
    """The model head of a task kind (``load_for_task``'s kind)."""
    return "classification" if kind == MULTILABEL else kind


def task_features(task: TaskConfig, examples: Sequence[Example], tokenizer: Tokenizer, labels: Sequence[str]) -> List[Feature]:
    """The features of ``examples``; multi-label examples are featurized as texts without a class id."""
    if task.kind != MULTILABEL:
        return featurize(task, examples, tokenizer, labels)
    if tokenizer.backend.truncation is not None or tokenizer.backend.padding is not None:
        raise ValueError("the tokenizer backend truncates or pads by itself; features need whole encodings"
                         " (call tokenizer.backend.no_truncation() and no_padding())")
    texts = [TextExample(e.text, e.pair, None, e.source) for e in examples if isinstance(e, MultiLabelExample)]
    return classification_features(texts, tokenizer, [], task.max_seq_len)


class TrainingLoss:
    """The loss of one training batch (``batch_indices`` index the training features)."""

    def __init__(self, task: TaskConfig, examples: Sequence[Example], features: Sequence[Feature], labels: Sequence[str]) -> None:
        self.targets: Optional[torch.Tensor] = None
        if task.kind == MULTILABEL:
            gold = indicator([examples[f.example_index].labels or () for f in features], labels)  # type: ignore[union-attr]
            self.targets = torch.from_numpy(gold.astype("float32"))

    def __call__(self, outputs: Outputs, batch_indices: Sequence[int]) -> Optional[torch.Tensor]:
        if self.targets is None:
            return outputs.loss
        assert outputs.logits is not None
        targets = self.targets[list(batch_indices)].to(outputs.logits.device, non_blocking=True)
        return F.binary_cross_entropy_with_logits(outputs.logits.float(), targets)
