"""Fine-tuning models: ``encoder`` + one task head. An ``encoder.*`` state dict loads into each of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from workbench.model.config import EncoderConfig
from workbench.model.encoder import Encoder
from workbench.model.heads import FAMILY_CLASSIFIER_STYLE, SequenceClassificationHead, SpanHead, TokenClassificationHead
from workbench.model.init import init_weights

IGNORE_INDEX = -100


@dataclass
class ClassifierOutput:
    logits: torch.Tensor  # [B, num_labels] (sequences) or [B, T, num_labels] (tokens)
    loss: Optional[torch.Tensor] = None


@dataclass
class SpanOutput:
    start_logits: torch.Tensor  # [B, T]
    end_logits: torch.Tensor  # [B, T]
    loss: Optional[torch.Tensor] = None


class SequenceClassifier(nn.Module):
    """Sentence(-pair) classification, or regression when ``num_labels == 1`` (MSE loss, like transformers).

    ``style``: ``pooler`` (BERT), ``dense`` (RoBERTa/CamemBERT), ``first`` (FlauBERT); default by family.
    """

    def __init__(self, encoder_config: EncoderConfig, num_labels: int, style: Optional[str] = None) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        style = FAMILY_CLASSIFIER_STYLE[encoder_config.family] if style is None else style
        self.config = encoder_config
        self.num_labels = num_labels
        self.encoder = Encoder(encoder_config, add_pooler=style == "pooler")
        self.head = SequenceClassificationHead(encoder_config, num_labels, style)
        init_weights(self.head, encoder_config.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        langs: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
    ) -> ClassifierOutput:
        hidden = self.encoder(input_ids, attention_mask, token_type_ids, langs)
        pooled = self.encoder.pool(hidden) if self.head.style == "pooler" else None
        logits = self.head(hidden, pooled)
        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = F.mse_loss(logits.float().squeeze(-1), labels.float().reshape(-1))
            else:
                loss = F.cross_entropy(logits.float(), labels.reshape(-1))
        return ClassifierOutput(logits, loss)


class TokenClassifier(nn.Module):
    """One label per token (NER, POS); labels are -100 where no prediction is scored."""

    def __init__(self, encoder_config: EncoderConfig, num_labels: int) -> None:
        super().__init__()
        self.config = encoder_config
        self.num_labels = num_labels
        self.encoder = Encoder(encoder_config, add_pooler=False)
        self.head = TokenClassificationHead(encoder_config, num_labels)
        init_weights(self.head, encoder_config.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        langs: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
    ) -> ClassifierOutput:
        logits = self.head(self.encoder(input_ids, attention_mask, token_type_ids, langs))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.float().reshape(-1, self.num_labels), labels.reshape(-1), ignore_index=IGNORE_INDEX
            )
        return ClassifierOutput(logits, loss)


class SpanExtractor(nn.Module):
    """Extractive QA: start/end logits; loss like transformers (positions clamped to T, ignored there)."""

    def __init__(self, encoder_config: EncoderConfig) -> None:
        super().__init__()
        self.config = encoder_config
        self.encoder = Encoder(encoder_config, add_pooler=False)
        self.head = SpanHead(encoder_config)
        init_weights(self.head, encoder_config.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        langs: Optional[torch.Tensor] = None,
        start_positions: Optional[torch.Tensor] = None,
        end_positions: Optional[torch.Tensor] = None,
    ) -> SpanOutput:
        start_logits, end_logits = self.head(self.encoder(input_ids, attention_mask, token_type_ids, langs))
        loss = None
        if start_positions is not None and end_positions is not None:
            seqlen = start_logits.shape[1]
            start = start_positions.reshape(-1).clamp(0, seqlen)
            end = end_positions.reshape(-1).clamp(0, seqlen)
            loss = (
                F.cross_entropy(start_logits.float(), start, ignore_index=seqlen)
                + F.cross_entropy(end_logits.float(), end, ignore_index=seqlen)
            ) / 2
        return SpanOutput(start_logits, end_logits, loss)
