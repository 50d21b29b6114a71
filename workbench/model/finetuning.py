"""Fine-tuning models: ``encoder`` + one task head. An ``encoder.*`` state dict loads into each of them.

Two execution shortcuts make fine-tuning faster without changing what is computed (same outputs, same
gradients, up to float rounding; the tests compare them with the plain path):

- padding-free (``padding_free=True``; ``None`` keeps the encoder config's choice): fine-tuning batches are
  dynamically padded, so the encoder runs its token-wise layers (projections, feed-forward blocks, norms) on
  the real tokens only (``EncoderConfig.padding_free``; a batch without padding takes the dense path anyway).
  The fine-tuning pipeline asks for it for both classifiers, not for ``SpanExtractor``: its loss, like
  transformers', spreads the softmax over padding positions too, whose hidden states the padding-free path
  does not compute (zeros), so it would change the loss;
- first-token last layer (``SequenceClassifier``): every classification head reads only the first token,
  so the last encoder layer computes its queries, attention output and feed-forward block at that
  position only (keys and values still come from every token; ``Encoder(output_positions=...)``).
"""

from __future__ import annotations

import dataclasses
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


def finetuning_encoder(encoder_config: EncoderConfig, padding_free: Optional[bool], add_pooler: bool) -> Encoder:
    """The encoder of a fine-tuning model; ``padding_free`` (unless None) overrides the config's choice."""
    if padding_free is not None and encoder_config.padding_free != padding_free:
        encoder_config = dataclasses.replace(encoder_config, padding_free=padding_free)
    return Encoder(encoder_config, add_pooler=add_pooler)


def first_token_positions(input_ids: torch.Tensor) -> torch.Tensor:
    """Flat positions ``b * T`` of each row's first token (CLS / <s>) in a ``[B, T]`` batch."""
    batch, seqlen = input_ids.shape
    return torch.arange(batch, device=input_ids.device) * seqlen


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
    Every style reads the first token only, so the last layer runs at that position only (see the module doc).
    """

    def __init__(
        self,
        encoder_config: EncoderConfig,
        num_labels: int,
        style: Optional[str] = None,
        padding_free: Optional[bool] = None,
    ) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        style = FAMILY_CLASSIFIER_STYLE[encoder_config.family] if style is None else style
        self.config = encoder_config
        self.num_labels = num_labels
        self.encoder = finetuning_encoder(encoder_config, padding_free, add_pooler=style == "pooler")
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
        if attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[-2] > 1:
            hidden = self.encoder(input_ids, attention_mask, token_type_ids, langs)  # per-query masks: every position
        else:
            first = self.encoder(input_ids, attention_mask, token_type_ids, langs, first_token_positions(input_ids))
            hidden = first.unsqueeze(1)  # [B, 1, H]: what the head reads (hidden[:, 0]) and nothing else
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

    def __init__(self, encoder_config: EncoderConfig, num_labels: int, padding_free: Optional[bool] = None) -> None:
        super().__init__()
        self.config = encoder_config
        self.num_labels = num_labels
        self.encoder = finetuning_encoder(encoder_config, padding_free, add_pooler=False)
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

    def __init__(self, encoder_config: EncoderConfig, padding_free: Optional[bool] = None) -> None:
        super().__init__()
        self.config = encoder_config
        self.encoder = finetuning_encoder(encoder_config, padding_free, add_pooler=False)
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
