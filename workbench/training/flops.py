"""FLOPs of a pretraining step as the model executes it, for model FLOPs utilization (achieved / peak).

What is counted: the matrix products (2 FLOPs per multiply-add; the backward computes two products per
forward product, the input's and the weight's gradients, so forward + backward = 3x the forward). Elementwise
ops, softmax, norms, dropout, embedding lookups and the optimizer are not counted (on the tiny configs they
would add a few percent; on base sizes well under 1%); ``torch.utils.flop_counter.FlopCounterMode`` counts
the same class of ops, and the tests compare with it.

What the model executes (``PretrainingModel``): every layer but the last on all ``B x T`` positions (the
real tokens only for the token-wise products with ``model.padding_free``; attention on the padded
``[B, T, T]``), the last layer's keys and values on all positions but its queries, output projection and
feed-forward block on the ``W`` selected positions (the masked ones padded up to a multiple of 16, plus
each row's first token with NSP), with attention over a ``[B, R, T]`` query block, and the MLM head on the
``W`` selected positions. LayerDrop's skipped layers are counted as run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel
from workbench.model.selection import Selection


@dataclass(frozen=True)
class ForwardShape:
    """The sizes one forward of ``PretrainingModel`` runs at."""

    batch: int  # B
    seq_len: int  # T
    token_rows: int  # rows of the token-wise products of the full layers: B x T, or the real tokens (padding-free)
    selected: int  # W: positions the last layer's queries, feed-forward block and the MLM head compute
    query_rows: int  # R: the last layer's per-row query block (the widest row's selected count, rounded up)
    nsp: bool


def forward_shape(model: PretrainingModel, labels: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> ForwardShape:
    """The shape the model runs ``labels`` ``[B, T]`` at (the same selection rule as its forward)."""
    batch, seq_len = labels.shape
    positions = model.selected_positions(labels)
    token_rows = batch * seq_len
    if model.config.padding_free and attention_mask is not None and not bool(attention_mask.bool().all()):
        token_rows = int(attention_mask.bool().sum())
    selection = Selection.of(positions, batch, seq_len)
    return ForwardShape(batch, seq_len, token_rows, positions.numel(), selection.max_per_row, model.nsp_head is not None)


def forward_macs(config: EncoderConfig, shape: ForwardShape) -> int:
    """Multiply-adds of the matrix products of one forward."""
    assert config.vocab_size is not None
    h, i = config.hidden_size, config.intermediate_size
    b, t, w = shape.batch, shape.seq_len, shape.selected
    full_layer = shape.token_rows * (4 * h * h + 2 * h * i) + 2 * b * t * t * h  # qkv, out, mlp; scores, weighted values
    last_layer = b * t * 2 * h * h + w * (2 * h * h + 2 * h * i) + 2 * b * shape.query_rows * t * h  # kv; q, out, mlp
    layers = (config.num_layers - 1) * full_layer + last_layer if config.num_layers else 0
    head = w * ((h * h if config.mlm_transform else 0) + h * config.vocab_size)
    nsp = b * (h * h + 2 * h) if shape.nsp else 0  # pooler dense, next-sentence classifier
    return layers + head + nsp


def step_flops(config: EncoderConfig, shape: ForwardShape) -> float:
    """Forward + backward FLOPs of one micro-batch: 2 FLOPs per multiply-add, backward twice the forward."""
    return 6.0 * forward_macs(config, shape)
