"""The one encoder behind BERT, RoBERTa, CamemBERT and FlauBERT: embeddings -> layers [-> final norm].

``forward(input_ids, attention_mask, token_type_ids, langs) -> hidden [B, T, H]``. The optional pooler
(BERT/RoBERTa dense+tanh over the first token) is part of the encoder so that its weights travel with
``encoder.*``; ``pool(hidden)`` applies it.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from workbench.model.attention import padding_mask_for_sdpa
from workbench.model.config import EncoderConfig
from workbench.model.embeddings import Embeddings
from workbench.model.heads import Pooler
from workbench.model.init import init_weights
from workbench.model.layer import EncoderLayer
from workbench.model.padding import pad_input, unpadding_of
from workbench.model.selection import Selection


def position_ids_for(
    input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor], config: EncoderConfig
) -> torch.Tensor:
    """``[B, T]`` position ids. BERT/FlauBERT: 0..T-1. With ``position_offset`` (RoBERTa): real tokens count
    from ``offset`` (RoBERTa's ``padding_idx + 1``), padding gets ``offset - 1`` (the padding row)."""
    batch, seqlen = input_ids.shape
    if config.position_offset == 0:
        return torch.arange(seqlen, device=input_ids.device).expand(batch, seqlen)
    if attention_mask is not None and attention_mask.dim() == 2:
        keep = attention_mask.bool()
    else:
        keep = input_ids != config.pad_token_id
    keep = keep.long()
    return torch.cumsum(keep, dim=1) * keep + (config.position_offset - 1)


class Encoder(nn.Module):
    def __init__(self, config: EncoderConfig, add_pooler: Optional[bool] = None) -> None:
        super().__init__()
        if config.vocab_size is None:
            raise ValueError(
                "EncoderConfig.vocab_size is None: set it from the tokenizer (model.vocab_size=null means"
                " 'the trained tokenizer's size', resolved before the model is built)"
            )
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_layers))
        use_final_norm = config.norm_position == "pre" and config.final_norm
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if use_final_norm else None
        self.pooler = Pooler(config) if (config.pooler if add_pooler is None else add_pooler) else None
        init_weights(self, config.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        langs: Optional[torch.Tensor] = None,
        output_positions: Optional[torch.Tensor] = None,
        sparse_word_gradient: bool = False,
    ) -> torch.Tensor:
        """``input_ids`` ``[B, T]``; ``attention_mask`` ``[B, T]`` keep-mask (1/True = real token) or a 4-D
        SDPA mask/bias; ``token_type_ids`` and ``langs`` ``[B, T]``. Returns hidden states ``[B, T, H]``.
        Token types are ignored when ``type_vocab_size == 0``, languages when ``num_languages == 0``.

        ``output_positions``: ascending unique flat positions (``b * T + t``); then only their hidden states
        ``[M, H]`` are returned and the last layer computes only them (identical values and gradients).
        ``sparse_word_gradient``: see :meth:`Embeddings.forward` (for word embeddings tied to a decoder).
        """
        batch, seqlen = input_ids.shape
        if seqlen > self.config.max_positions:
            raise ValueError(
                f"sequence length {seqlen} exceeds model.max_positions={self.config.max_positions};"
                " truncate inputs or use a model with more positions"
            )
        position_ids = position_ids_for(input_ids, attention_mask, self.config)
        if attention_mask is not None and attention_mask.dim() == 2 and not torch.compiler.is_compiling():
            if bool(attention_mask.bool().all()):
                attention_mask = None  # no padding: the unmasked SDPA kernels are faster
        attn_mask = padding_mask_for_sdpa(attention_mask)
        layers = [layer for layer in self.layers if not self._drop_layer()]
        last = layers.pop() if output_positions is not None and layers else None
        if self.config.padding_free and attention_mask is not None and attention_mask.dim() == 2:
            plan = unpadding_of(attention_mask)

            def gather(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
                return None if t is None else t.reshape(-1)[plan.indices]

            x = self.embeddings(
                gather(input_ids), gather(position_ids), gather(token_type_ids), gather(langs), sparse_word_gradient
            )
            for layer in layers:
                x = layer(x, attn_mask, plan)
            if output_positions is None:
                x = self.final_norm(x) if self.final_norm is not None else x
                return pad_input(x, plan.indices, batch, seqlen)
            x = pad_input(x, plan.indices, batch, seqlen)
        else:
            x = self.embeddings(input_ids, position_ids, token_type_ids, langs, sparse_word_gradient)
            for layer in layers:
                x = layer(x, attn_mask)
        if output_positions is not None:
            selection = Selection.of(output_positions, batch, seqlen)
            x = last.forward_selected(x, attn_mask, selection) if last is not None else selection.gather(x)
        return self.final_norm(x) if self.final_norm is not None else x

    def _drop_layer(self) -> bool:
        """LayerDrop (Fan et al. 2019): skip a whole layer with probability ``layerdrop`` while training."""
        return self.training and self.config.layerdrop > 0.0 and bool(torch.rand(()) < self.config.layerdrop)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """Pooled output ``[B, H]`` from hidden states ``[B, T, H]`` (or first-token states ``[B, H]``)."""
        if self.pooler is None:
            raise ValueError("this encoder has no pooler (model.pooler=false)")
        return self.pooler(hidden)

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings
