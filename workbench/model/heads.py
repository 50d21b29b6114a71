"""Task heads on top of the encoder's hidden states ``[B, T, H]``.

State-dict names are stable (the interop exporters map them): ``MaskedLMHead``: ``dense``, ``norm``,
``decoder.weight`` (tied to the word embeddings), ``bias``; ``Pooler``: ``dense``; ``NextSentenceHead``:
``out``; ``SequenceClassificationHead``: ``dense`` (RoBERTa style only), ``out``; ``TokenClassificationHead``:
``out``; ``SpanHead``: ``out``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from workbench.model.config import EncoderConfig
from workbench.model.mlp import activation_fn

CLASSIFIER_STYLES = ("pooler", "dense", "first")
FAMILY_CLASSIFIER_STYLE = {"bert": "pooler", "roberta": "dense", "camembert": "dense", "flaubert": "first"}


class Pooler(nn.Module):
    """BERT pooler: dense + tanh over the first token."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[B, T, H]`` hidden states, or ``[B, H]`` first-token states."""
        first = hidden[:, 0] if hidden.dim() == 3 else hidden
        return torch.tanh(self.dense(first))


class MaskedLMHead(nn.Module):
    """[dense -> activation -> LayerNorm] -> decoder (tied to the word embeddings) + bias.

    ``forward(hidden, positions)`` gathers the hidden states at ``positions`` FIRST and projects only
    those to the vocabulary: ``positions`` is a LongTensor of flat indices into ``hidden.view(-1, H)``
    (``b * T + t``) or a BoolTensor shaped like ``hidden[..., 0]``; ``None`` projects every position.
    Returns ``[M, V]`` logits for ``M`` selected positions (``[*hidden.shape[:-1], V]`` when ``None``).
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.transform = config.mlm_transform
        if self.transform:
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.act = activation_fn(config.activation)
            self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def tie_to(self, word_embeddings: nn.Embedding) -> None:
        """Share the decoder weight with the input embedding matrix (same Parameter)."""
        self.decoder.weight = word_embeddings.weight

    def reset_extra_parameters(self) -> None:
        with torch.no_grad():
            self.bias.zero_()

    def forward(self, hidden: torch.Tensor, positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        if positions is not None:
            if positions.dtype == torch.bool:
                hidden = hidden[positions]
            else:
                hidden = hidden.reshape(-1, hidden.shape[-1]).index_select(0, positions)
        return F.linear(self._transform(hidden), self.decoder.weight, self.bias)

    def _transform(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.dense(hidden))) if self.transform else hidden


class NextSentenceHead(nn.Module):
    """BERT next-sentence prediction over the pooled output: 0 = B follows A, 1 = B is random."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.out = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.out(pooled)


class SequenceClassificationHead(nn.Module):
    """One label (or one regression value) per sequence.

    style ``pooler`` (BERT): pooled output -> dropout -> linear.
    style ``dense`` (RoBERTa/CamemBERT): first token -> dropout -> dense -> tanh -> dropout -> linear.
    style ``first`` (FlauBERT/XLM sequence summary): first token -> dropout -> linear.
    """

    def __init__(self, config: EncoderConfig, num_labels: int, style: Optional[str] = None) -> None:
        super().__init__()
        style = FAMILY_CLASSIFIER_STYLE[config.family] if style is None else style
        if style not in CLASSIFIER_STYLES:
            raise ValueError(f"classifier style {style!r} is not valid; choose one of: {', '.join(CLASSIFIER_STYLES)}")
        self.style = style
        self.dropout = nn.Dropout(config.dropout)
        if style == "dense":
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.out = nn.Linear(config.hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, pooled: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.style == "pooler":
            if pooled is None:
                raise ValueError("the BERT-style classification head needs the pooled output (encoder.pool(hidden))")
            return self.out(self.dropout(pooled))
        x = self.dropout(hidden[:, 0])
        if self.style == "dense":
            x = self.dropout(torch.tanh(self.dense(x)))
        return self.out(x)


class TokenClassificationHead(nn.Module):
    """One label per token: dropout -> linear."""

    def __init__(self, config: EncoderConfig, num_labels: int) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(hidden))


class SpanHead(nn.Module):
    """Extractive QA: start and end logits ``[B, T]`` each."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.out = nn.Linear(config.hidden_size, 2)

    def forward(self, hidden: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        start, end = self.out(hidden).unbind(-1)
        return start.contiguous(), end.contiguous()
