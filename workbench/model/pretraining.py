"""Pretraining model: encoder + masked-LM head (+ BERT next-sentence head).

The MLM loss is computed at masked positions only: only the positions whose label is not -100 are
projected onto the vocabulary, and the encoder's last layer computes only those positions (plus each
row's first token for NSP). Same loss and gradients as the dense computation, a large share of the step's
compute saved. On CPU the loss is a cross-entropy written for this case (``workbench.model.mlm_loss``).
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
from workbench.model.mlm_loss import mlm_loss as masked_lm_loss

IGNORE_INDEX = -100


@dataclass
class PretrainingOutput:
    loss: torch.Tensor  # mlm_loss (+ nsp_loss): what to backpropagate
    mlm_loss: torch.Tensor  # mean cross-entropy over the masked positions of this batch (0 when none)
    mlm_correct: torch.Tensor  # int64 scalar: masked positions predicted exactly
    mlm_count: torch.Tensor  # int64 scalar: masked positions
    mlm_logits: torch.Tensor  # [mlm_count, V] logits at the masked positions, in flat (b, t) order
    nsp_loss: Optional[torch.Tensor] = None
    nsp_correct: Optional[torch.Tensor] = None
    nsp_count: Optional[torch.Tensor] = None
    nsp_logits: Optional[torch.Tensor] = None


class PretrainingModel(nn.Module):
    """``encoder`` + ``mlm_head`` (+ ``nsp_head`` with ``nsp=True``).

    The pooler is built only when it is trained (``config.pooler and nsp``); fine-tuning models that need it
    start it fresh when the checkpoint has none (see ``workbench.model.loading.load_encoder_weights``).
    """

    def __init__(self, config: EncoderConfig, nsp: bool = False) -> None:
        super().__init__()
        if nsp and not config.pooler:
            raise ValueError("next-sentence prediction needs the pooler: set model.pooler=true or objective nsp=false")
        self.config = config
        self.encoder = Encoder(config, add_pooler=nsp)
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
        positions = torch.nonzero(flat_labels != IGNORE_INDEX, as_tuple=False).squeeze(1)
        targets = flat_labels.index_select(0, positions)
        wanted = positions
        if self.nsp_head is not None:  # the pooler reads each row's first token
            firsts = torch.arange(batch, device=positions.device) * seqlen
            wanted = torch.unique(torch.cat([positions, firsts]), sorted=True)
        # the last layer computes only the positions that reach a loss
        selected = self.encoder(
            input_ids, attention_mask, token_type_ids, langs, output_positions=wanted,
            sparse_word_gradient=self._sparse_word_gradient(input_ids),
        )
        mlm_hidden = selected if wanted is positions else selected[torch.searchsorted(wanted, positions)]
        logits = self.mlm_head(mlm_hidden)
        if targets.numel():
            mlm_loss, mlm_correct = masked_lm_loss(logits, targets)
        else:  # no masked token: a zero loss that keeps the graph (and DDP) intact
            mlm_loss = logits.float().sum() * 0.0
            mlm_correct = torch.zeros((), dtype=torch.long, device=logits.device)
        mlm_count = torch.tensor(targets.numel(), dtype=torch.long, device=logits.device)
        out = PretrainingOutput(mlm_loss, mlm_loss, mlm_correct, mlm_count, logits)
        if self.nsp_head is not None:
            nsp_logits = self.nsp_head(self.encoder.pool(selected[torch.searchsorted(wanted, firsts)]))
            out.nsp_logits = nsp_logits
            if nsp_labels is not None:
                out.nsp_loss = F.cross_entropy(nsp_logits.float(), nsp_labels.reshape(-1))
                with torch.no_grad():
                    out.nsp_correct = (nsp_logits.argmax(dim=-1) == nsp_labels.reshape(-1)).sum()
                out.nsp_count = torch.tensor(nsp_labels.numel(), dtype=torch.long, device=nsp_logits.device)
                out.loss = mlm_loss + out.nsp_loss
        return out

    def _sparse_word_gradient(self, input_ids: torch.Tensor) -> bool:
        """CPU training with the decoder tied to the word embeddings: the lookup's gradient is sparse and
        autograd adds it to the decoder's dense gradient (the parameter's ``.grad`` stays dense), which skips
        a zero-filled ``[V, H]`` buffer and a pass over it. ``loss`` and ``mlm_loss`` always reach the decoder;
        backpropagating ``nsp_loss`` alone would leave a sparse ``.grad`` on the word embeddings."""
        return (
            self.training
            and input_ids.device.type == "cpu"
            and self.mlm_head.decoder.weight is self.encoder.word_embeddings.weight
            and not torch.compiler.is_compiling()
        )
