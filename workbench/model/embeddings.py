"""Input embeddings: word + position (learned or sinusoidal) + token type + language, then LayerNorm and dropout.

Shape-agnostic: ids may be ``[B, T]`` (padded batches) or ``[N]`` (unpadded tokens).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from workbench.model.config import EncoderConfig
from workbench.model.dropout import Dropout
from workbench.model.kernels.choice import Kernels


def sinusoidal_table(rows: int, dim: int) -> torch.Tensor:
    """XLM/FlauBERT table: sin on even dims, cos on odd dims, frequency 10000^(2*(j//2)/dim)."""
    position = torch.arange(rows, dtype=torch.float64)[:, None]
    exponent = torch.tensor([2 * (j // 2) / dim for j in range(dim)], dtype=torch.float64)
    angles = position / torch.pow(10000.0, exponent)[None, :]
    table = torch.empty(rows, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()


class Embeddings(nn.Module):
    def __init__(self, config: EncoderConfig, kernels: Optional[Kernels] = None) -> None:
        super().__init__()
        if config.vocab_size is None:
            raise ValueError("EncoderConfig.vocab_size is None: set it from the tokenizer (Tokenizer.vocab_size) first")
        self.config = config
        hidden = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, hidden, padding_idx=config.pad_token_id)
        if config.position_embedding == "learned":
            padding_idx = config.position_offset - 1 if config.position_offset > 0 else None
            self.position_embeddings = nn.Embedding(config.position_rows, hidden, padding_idx=padding_idx)
        else:
            self.position_embeddings = None
            self.register_buffer("sinusoidal", sinusoidal_table(config.position_rows, hidden), persistent=False)
        self.token_type_embeddings = (
            nn.Embedding(config.type_vocab_size, hidden) if config.type_vocab_size > 0 else None
        )
        self.language_embeddings = nn.Embedding(config.num_languages, hidden) if config.num_languages > 0 else None
        self.norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.dropout, kernels)

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        token_type_ids: Optional[torch.Tensor] = None,
        langs: Optional[torch.Tensor] = None,
        sparse_word_gradient: bool = False,
    ) -> torch.Tensor:
        """``sparse_word_gradient``: the word-embedding gradient of this lookup is a sparse tensor (the rows of
        ``input_ids`` only) instead of a dense ``[V, H]`` one. For a table tied to the MLM decoder, whose dense
        gradient autograd adds it to, this saves a zero-filled ``[V, H]`` buffer and a pass over it. (Alone,
        the parameter would get a sparse ``.grad``, which AdamW refuses.)"""
        words = self.word_embeddings
        x = F.embedding(input_ids, words.weight, words.padding_idx, sparse=sparse_word_gradient)
        if self.position_embeddings is not None:
            x = x + self.position_embeddings(position_ids)
        else:
            x = x + self.sinusoidal[position_ids].to(x.dtype)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                # like BERT: an absent token_type_ids means all type 0
                x = x + self.token_type_embeddings.weight[0]
            else:
                x = x + self.token_type_embeddings(token_type_ids)
        if self.language_embeddings is not None and langs is not None:
            x = x + self.language_embeddings(langs)
        return self.dropout(self.norm(x))


__all__ = ["Embeddings", "sinusoidal_table"]
