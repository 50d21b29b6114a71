"""Fine-tuning dropout (``finetune.dropout``, ``finetune.attention_dropout``): probabilities that replace the
model's own while it is fine-tuned, for every backend. ``None`` keeps the model's value.

A model pretrained without dropout (Cramming-style short pretraining) otherwise fine-tunes without any;
BERT-style fine-tuning uses 0.1 (Devlin et al. 2019). ``dropout`` is the hidden-state dropout, which the
workbench classification heads also use (as transformers' heads use ``hidden_dropout_prob``);
``attention_dropout`` the dropout on attention probabilities.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from workbench.evaluation.errors import FinetuneError

# transformers config attribute names, per family: BERT/RoBERTa/CamemBERT/XLM-R, then FlauBERT/XLM/DistilBERT
HIDDEN_DROPOUT_KEYS = ("hidden_dropout_prob", "dropout")
ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout")


@dataclass(frozen=True)
class Dropout:
    hidden: Optional[float] = None
    attention: Optional[float] = None

    def applied_to(self, config):
        """A workbench ``EncoderConfig`` with these probabilities (the same config when both are None)."""
        changes = {}
        if self.hidden is not None:
            changes["dropout"] = self.hidden
        if self.attention is not None:
            changes["attention_dropout"] = self.attention
        return dataclasses.replace(config, **changes) if changes else config

    def transformers_kwargs(self, config: Any, path: Path) -> Dict[str, float]:
        """``from_pretrained`` keyword arguments setting these probabilities on a transformers ``config``."""
        kwargs = {}
        for value, keys, setting in ((self.hidden, HIDDEN_DROPOUT_KEYS, "finetune.dropout"),
                                     (self.attention, ATTENTION_DROPOUT_KEYS, "finetune.attention_dropout")):
            if value is None:
                continue
            key = next((k for k in keys if isinstance(getattr(config, k, None), (int, float))), None)
            if key is None:
                raise FinetuneError(
                    f"{path}: {setting}={value} but its config ({type(config).__name__}) has none of"
                    f" {', '.join(keys)}; leave {setting}=null to keep the model's dropout"
                )
            kwargs[key] = float(value)
        return kwargs
