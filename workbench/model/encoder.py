"""The one encoder behind BERT, RoBERTa, CamemBERT and FlauBERT: embeddings -> layers [-> final norm].

``forward(input_ids, attention_mask, token_type_ids, langs) -> hidden [B, T, H]`` (every layer's output with
``output_hidden_states=True``). The attention mask becomes one layout value (``workbench.model.padding``: padded,
or unpadded with cumulative sequence lengths) that the layers receive; the kernels they run
(``workbench.model.kernels``) are chosen when the encoder is built. The optional pooler (BERT/RoBERTa dense+tanh
over the first token) is part of the encoder so that its weights travel with ``encoder.*``; ``pool(hidden)``
applies it.
"""

from __future__ import annotations

from typing import List, Optional, Union

import torch
from torch import nn

from workbench.model.config import EncoderConfig
from workbench.model.embeddings import Embeddings
from workbench.model.heads import Pooler
from workbench.model.init import init_weights
from workbench.model.kernels.choice import Kernels, select_kernels
from workbench.model.layer import EncoderLayer
from workbench.model.padding import Layout, batch_layout
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
    """``kernels``: the attention, dropout, residual and loss kernels its blocks run (default: CPU eager,
    ``select_kernels()``); ``workbench.model.kernels.choice.use_kernels`` changes them for another device or mode."""

    def __init__(self, config: EncoderConfig, add_pooler: Optional[bool] = None, kernels: Optional[Kernels] = None) -> None:
        super().__init__()
        if config.vocab_size is None:
            raise ValueError(
                "EncoderConfig.vocab_size is None: set it from the tokenizer (model.vocab_size=null means"
                " 'the trained tokenizer's size', resolved before the model is built)"
            )
        self.config = config
        self.kernels = select_kernels() if kernels is None else kernels
        self.embeddings = Embeddings(config, self.kernels)
        self.layers = nn.ModuleList(EncoderLayer(config, self.kernels) for _ in range(config.num_layers))
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
        output_hidden_states: bool = False,
    ) -> Union[torch.Tensor, List[torch.Tensor]]:
        """``input_ids`` ``[B, T]``; ``attention_mask`` ``[B, T]`` keep-mask (1/True = real token) or a 4-D
        SDPA mask/bias; ``token_type_ids`` and ``langs`` ``[B, T]``. Returns hidden states ``[B, T, H]``.
        Token types are ignored when ``type_vocab_size == 0``, languages when ``num_languages == 0``.

        ``output_positions``: ascending unique flat positions (``b * T + t``); then only their hidden states
        ``[M, H]`` are returned and the last layer computes only them (identical values and gradients).
        ``sparse_word_gradient``: see :meth:`Embeddings.forward` (for word embeddings tied to a decoder).
        ``output_hidden_states`` (inference, eval mode): ``num_layers + 1`` tensors ``[B, T, H]``, the embedding
        output then each layer's output, the last one as returned without it (final norm of pre-norm models).
        Padding positions hold zeros on the padding-free path and unused values otherwise: mask them out.
        """
        batch, seqlen = input_ids.shape
        if seqlen > self.config.max_positions:
            raise ValueError(
                f"sequence length {seqlen} exceeds model.max_positions={self.config.max_positions};"
                " truncate inputs or use a model with more positions"
            )
        if output_hidden_states and self.training:
            raise ValueError("output_hidden_states is for inference: call encoder.eval() first (dropout, LayerDrop)")
        if output_hidden_states and output_positions is not None:
            raise ValueError("output_hidden_states returns every position: pass output_positions=None")
        position_ids = position_ids_for(input_ids, attention_mask, self.config)
        layout = self.layout(attention_mask)
        layers = [layer for layer in self.layers if not self._drop_layer()]
        last = layers.pop() if output_positions is not None and layers else None
        x = self.embeddings(*map(layout.tokens, (input_ids, position_ids, token_type_ids, langs)), sparse_word_gradient)
        states = [x]
        for layer in layers:
            x = layer(x, layout)
            if output_hidden_states:
                states.append(x)
        if output_positions is not None:
            x, selection = layout.padded(x), Selection.of(output_positions, batch, seqlen)
            x = last.forward_selected(x, layout.attn_mask, selection) if last is not None else selection.gather(x)
            return self._final_norm(x)
        if output_hidden_states:
            states[-1] = self._final_norm(states[-1])
            return [layout.padded(state) for state in states]
        return layout.padded(self._final_norm(x))

    def layout(self, attention_mask: Optional[torch.Tensor]) -> Layout:
        """The batch layout the layers run on (padding-free when ``config.padding_free``)."""
        return batch_layout(attention_mask, self.config.padding_free, skip_full_mask=self.kernels.skip_full_masks)

    def _final_norm(self, x: torch.Tensor) -> torch.Tensor:
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
