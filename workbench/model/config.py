"""Schema of the ``model`` config group: one encoder, many flavors.

BERT, RoBERTa, CamemBERT and FlauBERT differ only in these fields. The model
code reads them; it never reads Hydra or files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from workbench.config.choices import ConfigError, check_choice, check_fraction, check_positive

FAMILIES = ("bert", "roberta", "camembert", "flaubert")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu")
POSITION_EMBEDDINGS = ("learned", "sinusoidal")
NORM_POSITIONS = ("post", "pre")


@dataclass
class EncoderConfig:
    family: str = "bert"  # export target and special-token convention; architecture comes from the fields below
    size: str = "base"  # tiny | small | base | large (a label)
    vocab_size: Optional[int] = None  # None: the trained tokenizer's size
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    activation: str = "gelu"
    max_positions: int = 512  # usable positions
    position_offset: int = 0  # RoBERTa: first position id is 2 (padding_idx + 1); the table has max_positions + offset rows
    position_embedding: str = "learned"
    type_vocab_size: int = 2  # 0: no token-type embeddings
    num_languages: int = 0  # >0: XLM language embeddings
    norm_position: str = "post"
    final_norm: bool = True  # pre-norm only: LayerNorm after the last layer (FlauBERT's pre-norm models have none)
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layerdrop: float = 0.0
    pooler: bool = True  # BERT/RoBERTa dense+tanh pooler over the first token
    tie_word_embeddings: bool = True
    mlm_transform: bool = True  # dense + activation + LayerNorm before the MLM decoder (BERT/RoBERTa)
    pad_token_id: int = 0
    initializer_range: float = 0.02
    padding_free: bool = False  # run token-wise layers on unpadded tokens only (varlen attention where the kernel exists)

    def __post_init__(self) -> None:
        check_choice("model.family", self.family, FAMILIES)
        check_choice("model.activation", self.activation, ACTIVATIONS)
        check_choice("model.position_embedding", self.position_embedding, POSITION_EMBEDDINGS)
        check_choice("model.norm_position", self.norm_position, NORM_POSITIONS)
        for key in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_positions"):
            check_positive(f"model.{key}", getattr(self, key))
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"model.hidden_size={self.hidden_size} is not divisible by model.num_heads={self.num_heads}"
            )
        check_fraction("model.dropout", self.dropout)
        check_fraction("model.attention_dropout", self.attention_dropout)
        check_fraction("model.layerdrop", self.layerdrop)
        check_positive("model.position_offset", self.position_offset, allow_zero=True)
        check_positive("model.type_vocab_size", self.type_vocab_size, allow_zero=True)
        check_positive("model.num_languages", self.num_languages, allow_zero=True)
        check_positive("model.layer_norm_eps", self.layer_norm_eps)
        check_positive("model.initializer_range", self.initializer_range)
        if self.vocab_size is not None:
            check_positive("model.vocab_size", self.vocab_size)
            if not 0 <= self.pad_token_id < self.vocab_size:
                raise ConfigError(
                    f"model.pad_token_id={self.pad_token_id} is outside the vocabulary (model.vocab_size={self.vocab_size})"
                )
        if self.position_embedding == "sinusoidal" and self.position_offset:
            raise ConfigError("model.position_offset must be 0 with model.position_embedding=sinusoidal")

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def position_rows(self) -> int:
        """Rows of the position table: usable positions plus the RoBERTa offset."""
        return self.max_positions + self.position_offset
