"""Which kind of workbench model an object is, and how to build one of a kind."""

from __future__ import annotations

from typing import Optional

from torch import nn

from workbench.model.config import EncoderConfig
from workbench.model.encoder import Encoder
from workbench.model.finetuning import SequenceClassifier, SpanExtractor, TokenClassifier
from workbench.model.pretraining import PretrainingModel


def kind_of(model: nn.Module) -> str:
    if isinstance(model, Encoder):
        return "encoder"
    if isinstance(model, PretrainingModel):
        return "pretraining"
    if isinstance(model, SequenceClassifier):
        return "sequence_classification"
    if isinstance(model, TokenClassifier):
        return "token_classification"
    if isinstance(model, SpanExtractor):
        return "span"
    raise TypeError(f"{type(model).__name__} is not a workbench model (Encoder, PretrainingModel or a fine-tuning model)")


def build(kind: str, config: EncoderConfig, *, nsp: bool = False, num_labels: Optional[int] = None,
          with_pooler: Optional[bool] = None) -> nn.Module:
    if kind == "encoder":
        return Encoder(config, add_pooler=with_pooler)
    if kind == "pretraining":
        return PretrainingModel(config, nsp=nsp)
    if kind == "sequence_classification":
        return SequenceClassifier(config, num_labels)
    if kind == "token_classification":
        return TokenClassifier(config, num_labels)
    if kind == "span":
        return SpanExtractor(config)
    raise ValueError(f"unknown model kind {kind!r}")
