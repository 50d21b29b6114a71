"""Hidden states of every layer of a workbench ``Encoder``, computed with its own submodules.

``Encoder.forward`` returns only the last layer. ``all_hidden_states`` runs the same steps in the same order
(position ids, padding mask for SDPA, embeddings, each layer, the final norm of pre-norm models) and keeps
every intermediate result, so its last entry equals ``Encoder.forward`` exactly (both the padded and the
padding-free paths). Inference only: the encoder must be in eval mode (no dropout, no LayerDrop).
"""

from __future__ import annotations

from typing import List, Optional

import torch

from workbench.model.attention import padding_mask_for_sdpa
from workbench.model.encoder import Encoder, position_ids_for
from workbench.model.padding import pad_input, unpadding_of


def all_hidden_states(
    encoder: Encoder,
    input_ids: torch.Tensor,
    attention_mask: Optional[torch.Tensor] = None,
    token_type_ids: Optional[torch.Tensor] = None,
    langs: Optional[torch.Tensor] = None,
) -> List[torch.Tensor]:
    """``num_layers + 1`` tensors ``[B, T, H]``: the embedding output, then each layer's output; the last one
    has the final LayerNorm applied when the encoder has one (pre-norm models), like ``Encoder.forward``.
    Padding positions hold zeros on the padding-free path and unused values otherwise: mask them out."""
    if encoder.training:
        raise ValueError("all_hidden_states is for inference: call encoder.eval() first (dropout, LayerDrop)")
    config = encoder.config
    batch, seqlen = input_ids.shape
    if seqlen > config.max_positions:
        raise ValueError(
            f"sequence length {seqlen} exceeds model.max_positions={config.max_positions};"
            " shorten the text or use a model with more positions"
        )
    position_ids = position_ids_for(input_ids, attention_mask, config)
    if attention_mask is not None and attention_mask.dim() == 2 and bool(attention_mask.bool().all()):
        attention_mask = None  # as Encoder.forward: no padding, unmasked kernels
    attn_mask = padding_mask_for_sdpa(attention_mask)
    states: List[torch.Tensor] = []
    if config.padding_free and attention_mask is not None and attention_mask.dim() == 2:
        plan = unpadding_of(attention_mask)

        def gather(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if t is None else t.reshape(-1)[plan.indices]

        x = encoder.embeddings(gather(input_ids), gather(position_ids), gather(token_type_ids), gather(langs))
        states.append(x)
        for layer in encoder.layers:
            x = layer(x, attn_mask, plan)
            states.append(x)
        if encoder.final_norm is not None:
            states[-1] = encoder.final_norm(states[-1])
        return [pad_input(s, plan.indices, batch, seqlen) for s in states]
    x = encoder.embeddings(input_ids, position_ids, token_type_ids, langs)
    states.append(x)
    for layer in encoder.layers:
        x = layer(x, attn_mask)
        states.append(x)
    if encoder.final_norm is not None:
        states[-1] = encoder.final_norm(states[-1])
    return states
