"""Pretraining model: encoder + masked-LM head (+ BERT next-sentence head).

The MLM loss is computed at masked positions only: only the positions whose label is not -100 are
projected onto the vocabulary, and the encoder's last layer computes only those positions (plus each
row's first token for NSP). Same loss and gradients as the dense computation, a large share of the step's
compute saved. The loss is the model's masked-LM loss kernel (``workbench.model.kernels.mlm_loss``; on CPU a
cross-entropy written for this case).

The selected positions are padded with unused ones up to a multiple of ``pad_to`` (16 by default;
``workbench.model.selection.pad_selection``): the head computes ``[W, V]`` logits, the masked rows first and
the padding rows after them, which get no loss and a zero gradient. The number of distinct shapes a run sees
stays small, and with it the memory the allocator keeps (it grew 2x over a quickstart run without this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from workbench.model.config import EncoderConfig
from workbench.model.encoder import Encoder
from workbench.model.heads import MaskedLMHead, NextSentenceHead
from workbench.model.init import init_weights
from workbench.model.kernels.choice import Kernels
from workbench.model.selection import pad_selection

IGNORE_INDEX = -100
# Selected positions per forward are padded to a multiple of this (1: no padding). 16 keeps RSS flat over a quickstart
# run at no measurable cost in step time; 64 gives fewer shapes but ~2% slower steps there (docs/benchmarks.md).
SELECTION_MULTIPLE = 16


@dataclass
class PretrainingOutput:
    loss: torch.Tensor  # mlm_loss (+ nsp_loss): what to backpropagate
    mlm_loss: torch.Tensor  # mean cross-entropy over the masked positions of this batch (0 when none)
    mlm_correct: torch.Tensor  # int64 scalar: masked positions predicted exactly
    mlm_count: torch.Tensor  # int64 scalar: masked positions
    mlm_logits: torch.Tensor  # [mlm_count, V] logits at the masked positions, in flat (b, t) order (padding rows left out)
    nsp_loss: Optional[torch.Tensor] = None
    nsp_correct: Optional[torch.Tensor] = None
    nsp_count: Optional[torch.Tensor] = None
    nsp_logits: Optional[torch.Tensor] = None


class PretrainingModel(nn.Module):
    """``encoder`` + ``mlm_head`` (+ ``nsp_head`` with ``nsp=True``).

    The pooler is built only when it is trained (``config.pooler and nsp``); fine-tuning models that need it
    start it fresh when the checkpoint has none (see ``workbench.model.loading.load_encoder_weights``).
    """

    def __init__(
        self, config: EncoderConfig, nsp: bool = False, pad_to: int = SELECTION_MULTIPLE, kernels: Optional[Kernels] = None
    ) -> None:
        super().__init__()
        if nsp and not config.pooler:
            raise ValueError("next-sentence prediction needs the pooler: set model.pooler=true or objective nsp=false")
        if pad_to < 1:
            raise ValueError(f"pad_to={pad_to} must be at least 1 (1: no padding of the selected positions)")
        self.config = config
        self.pad_to = pad_to
        self.encoder = Encoder(config, add_pooler=nsp, kernels=kernels)
        self.mlm_head = MaskedLMHead(config)
        self.nsp_head = NextSentenceHead(config) if nsp else None
        init_weights(self.mlm_head, config.initializer_range)
        if self.nsp_head is not None:
            init_weights(self.nsp_head, config.initializer_range)
        if config.tie_word_embeddings:
            self.mlm_head.tie_to(self.encoder.word_embeddings)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: Optional[torch.Tensor],
        labels: torch.Tensor,
        token_type_ids: Optional[torch.Tensor] = None,
        nsp_labels: Optional[torch.Tensor] = None,
        langs: Optional[torch.Tensor] = None,
    ) -> PretrainingOutput:
        batch, seqlen = input_ids.shape
        flat_labels = labels.reshape(-1)
        masked = flat_labels != IGNORE_INDEX
        wanted = self.selected_positions(labels)
        # the last layer computes only the positions that reach a loss (and the padding positions)
        selected = self.encoder(
            input_ids, attention_mask, token_type_ids, langs, output_positions=wanted,
            sparse_word_gradient=self._sparse_word_gradient(input_ids),
        )
        is_target = masked.index_select(0, wanted)
        positions = wanted[is_target]  # the masked positions, ascending
        if positions.numel() == wanted.numel():
            mlm_hidden = selected
        else:  # masked rows first, then the others (padding for the head: no loss, zero gradient)
            order = torch.cat([torch.nonzero(is_target).squeeze(1), torch.nonzero(~is_target).squeeze(1)])
            mlm_hidden = selected.index_select(0, order)
        targets = flat_labels.index_select(0, positions)
        logits = self.mlm_head(mlm_hidden)  # [W, V]: the first targets.numel() rows are the masked positions
        if targets.numel():
            mlm_loss, mlm_correct = self.encoder.kernels.mlm_loss(logits, targets)
        else:  # no masked token: a zero loss that keeps the graph (and DDP) intact
            mlm_loss = logits.float().sum() * 0.0
            mlm_correct = torch.zeros((), dtype=torch.long, device=logits.device)
        mlm_count = torch.tensor(targets.numel(), dtype=torch.long, device=logits.device)
        logits = logits[: targets.numel()]
        out = PretrainingOutput(mlm_loss, mlm_loss, mlm_correct, mlm_count, logits)
        if self.nsp_head is not None:
            firsts = torch.arange(batch, device=wanted.device) * seqlen
            nsp_logits = self.nsp_head(self.encoder.pool(selected[torch.searchsorted(wanted, firsts)]))
            out.nsp_logits = nsp_logits
            if nsp_labels is not None:
                out.nsp_loss = F.cross_entropy(nsp_logits.float(), nsp_labels.reshape(-1))
                with torch.no_grad():
                    out.nsp_correct = (nsp_logits.argmax(dim=-1) == nsp_labels.reshape(-1)).sum()
                out.nsp_count = torch.tensor(nsp_labels.numel(), dtype=torch.long, device=nsp_logits.device)
                out.loss = mlm_loss + out.nsp_loss
        return out

    def selected_positions(self, labels: torch.Tensor) -> torch.Tensor:
        """Flat positions (ascending) that the last layer and the MLM head compute for ``labels`` ``[B, T]``:
        the masked ones, each row's first token with NSP (the pooler reads it), and padding positions up to a
        multiple of ``pad_to``."""
        chosen = labels != IGNORE_INDEX
        if self.nsp_head is not None:
            chosen[:, 0] = True
        return torch.nonzero(pad_selection(chosen, self.pad_to).reshape(-1), as_tuple=False).squeeze(1)

    def _sparse_word_gradient(self, input_ids: torch.Tensor) -> bool:
        """CPU eager training (``kernels.sparse_tied_word_gradient``) with the decoder tied to the word embeddings:
        the lookup's gradient is sparse and autograd adds it to the decoder's dense gradient (the parameter's ``.grad`` stays dense), which skips
        a zero-filled ``[V, H]`` buffer and a pass over it. ``loss`` and ``mlm_loss`` always reach the decoder;
        backpropagating ``nsp_loss`` alone would leave a sparse ``.grad`` on the word embeddings."""
        return (
            self.training
            and self.encoder.kernels.sparse_tied_word_gradient
            and self.mlm_head.decoder.weight is self.encoder.word_embeddings.weight
        )
