"""Schemas of the ``fill_mask`` and ``embed`` stages (inference on a finished model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from workbench.config.choices import ConfigError, check_choice, check_positive

# Which hidden states make a token's vector (BERT paper, feature-based approach, Table 7).
LAYER_COMBINATIONS = ("last", "sum_last_four", "concat_last_four")
POOLINGS = ("mean", "cls", "none")  # none: one vector per token (contextual token embeddings)
PREDICT_FORMATS = ("text", "tsv", "csv", "jsonl", "conll", "squad_json")


@dataclass
class FillMaskConfig:
    model: Optional[str] = None  # workbench model folder, pretraining run folder or transformers folder
    text: Optional[str] = None  # one text with <mask> (or the family's own mask token), possibly several
    input_file: Optional[str] = None  # or many: one text per line (blank lines skipped, line numbers kept)
    output: Optional[str] = None  # jsonl, one object per text; None prints a table
    top_k: int = 5  # completions reported per mask position
    batch_size: int = 32  # texts per forward pass

    def __post_init__(self) -> None:
        check_positive("fill_mask.top_k", self.top_k)
        check_positive("fill_mask.batch_size", self.batch_size)
        if self.text is not None and self.input_file is not None:
            raise ConfigError("fill_mask.text and fill_mask.input_file are exclusive: give one of them")


@dataclass
class EmbedConfig:
    model: Optional[str] = None  # workbench model folder, pretraining run folder or transformers folder
    input_file: Optional[str] = None  # one text per line (blank lines skipped; ids are 1-based line numbers)
    output: Optional[str] = None  # .npy (+ <stem>.ids.jsonl) or .parquet (needs pyarrow)
    layers: str = "last"  # last | sum_last_four | concat_last_four
    layer: Optional[int] = None  # one hidden state instead: 0 = embedding output, num_layers = last layer
    pooling: str = "mean"  # mean (padding excluded) | cls (first token) | none (one vector per token)
    similarity: List[str] = field(default_factory=list)  # two texts: print the cosine of their sentence embeddings
    batch_size: int = 32  # texts per forward pass

    def __post_init__(self) -> None:
        check_choice("embed.layers", self.layers, LAYER_COMBINATIONS)
        check_choice("embed.pooling", self.pooling, POOLINGS)
        check_positive("embed.batch_size", self.batch_size)
        if self.layer is not None:
            check_positive("embed.layer", self.layer, allow_zero=True)
        if self.similarity and len(self.similarity) != 2:
            raise ConfigError(
                f"embed.similarity takes exactly two texts, got {len(self.similarity)}:"
                ' embed.similarity=["text a","text b"]'
            )
        if self.similarity and self.pooling == "none":
            raise ConfigError("embed.similarity compares sentence embeddings: use embed.pooling=mean or cls")


@dataclass
class PredictConfig:
    model: Optional[str] = None  # a fine-tuned transformers folder, e.g. an eval job's <run folder>/transformers
    input_file: Optional[str] = None  # texts (one per line), tsv/csv/jsonl columns, CoNLL tokens or SQuAD json
    output: Optional[str] = None  # .jsonl: one prediction (with its scores) per example, in input order
    # None: from the file name (.txt text, .tsv, .csv, .jsonl, .conll/.iob/.bio conll, .json squad_json); text | tsv |
    # csv | jsonl | conll | squad_json
    format: Optional[str] = None
    text_column: Optional[str] = None  # tsv/csv/jsonl: the text's column (None: the one the model was trained on, else "text")
    pair_column: Optional[str] = None  # tsv/csv/jsonl, pair models: the second text's column (None: as trained)
    has_header: bool = True  # tsv/csv: the first row names the columns (else columns are 0-based indices)
    token_column: int = 0  # conll: column of the token
    batch_size: int = 32  # examples per forward pass

    def __post_init__(self) -> None:
        if self.format is not None:
            check_choice("predict.format", self.format, PREDICT_FORMATS)
        check_positive("predict.batch_size", self.batch_size)
        check_positive("predict.token_column", self.token_column, allow_zero=True)
