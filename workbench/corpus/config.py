"""Schemas of the ``corpus`` config group (raw text sources) and of packing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from omegaconf import MISSING

from workbench.config.choices import ConfigError, check_choice, check_fraction, check_path_name, check_positive

SOURCE_KINDS = ("text", "jsonl", "datasets")
DOCUMENT_BOUNDARIES = ("blank_line", "line", "file")
PACKING_MODES = ("full_sentences", "doc_sentences", "line_by_line", "sentence_pairs", "stream")
NORMALIZATIONS = ("NFC", "NFKC", "none")
UNDECODABLE_POLICIES = ("replace", "skip")


@dataclass
class SourceConfig:
    path: str = MISSING  # file, glob or directory (kind text/jsonl); hub name or local dir (kind datasets)
    kind: str = "text"
    text_field: str = "text"  # jsonl and datasets
    split: str = "train"  # datasets
    subset: Optional[str] = None  # datasets configuration name, e.g. "unshuffled_deduplicated_fr"
    language: str = "fr"
    weight: float = 1.0  # sampling weight in a multilingual mix

    def __post_init__(self) -> None:
        check_choice("corpus.sources[].kind", self.kind, SOURCE_KINDS)
        check_positive("corpus.sources[].weight", self.weight)


@dataclass
class CorpusConfig:
    name: str = MISSING  # names the prepared shard folder
    sources: List[SourceConfig] = field(default_factory=list)
    document_boundary: str = "blank_line"  # how plain text is split into documents
    min_chars: int = 1  # lines shorter than this (after cleaning) are dropped and counted
    max_chars: int = 1_000_000  # longer lines are dropped and counted
    dedup: bool = True  # exact dedup of documents by hash
    validation_fraction: float = 0.01  # share of documents held out, chosen by hash of the document
    language_sampling_alpha: float = 1.0  # XLM-style exponent smoothing of language weights (1 = as given)
    # --- cleaning (added by the corpus module) ---
    normalization: str = "NFC"  # Unicode normalization of every line: NFC, NFKC or none
    min_alpha_fraction: float = 0.0  # quality filter: lines whose share of letters is below this are dropped
    undecodable: str = "replace"  # lines with bytes that are not UTF-8: replace (U+FFFD, counted) or skip (counted)
    max_documents: Optional[int] = None  # stop after this many source documents (quick runs); None = all
    license: Optional[str] = None  # the text's licence (e.g. cc-by-sa-4.0), stated on the model cards of models trained on it

    def __post_init__(self) -> None:
        check_path_name("corpus.name", self.name)
        check_choice("corpus.document_boundary", self.document_boundary, DOCUMENT_BOUNDARIES)
        check_fraction("corpus.validation_fraction", self.validation_fraction)
        check_choice("corpus.normalization", self.normalization, NORMALIZATIONS)
        check_choice("corpus.undecodable", self.undecodable, UNDECODABLE_POLICIES)
        check_fraction("corpus.min_alpha_fraction", self.min_alpha_fraction)
        check_positive("corpus.language_sampling_alpha", self.language_sampling_alpha)
        check_positive("corpus.min_chars", self.min_chars, allow_zero=True)
        if self.max_chars < max(self.min_chars, 1):
            raise ConfigError(f"corpus.max_chars={self.max_chars} must be >= corpus.min_chars={self.min_chars} and >= 1")
        if self.max_documents is not None:
            check_positive("corpus.max_documents", self.max_documents)


@dataclass
class PackingConfig:
    mode: str = "full_sentences"
    max_seq_len: int = 128  # including special tokens
    short_seq_prob: float = 0.1  # sentence_pairs: probability of a shorter target length (BERT)
    shard_tokens: int = 50_000_000  # tokens per shard file
    num_workers: int = 1  # tokenization processes; output is identical whatever the number
    # --- added by the corpus module ---
    random_next_pool: int = 20_000  # sentence_pairs: recent sentences the random "next" segment is drawn from
    word_cache_entries: int = 1 << 18  # words whose ids each tokenizing process keeps (memory cap, ~150 B each);
    # speed only: the output does not depend on it (nor on num_workers)

    def __post_init__(self) -> None:
        check_choice("packing.mode", self.mode, PACKING_MODES)
        check_positive("packing.max_seq_len", self.max_seq_len)
        if self.max_seq_len < 8:
            raise ConfigError(f"packing.max_seq_len={self.max_seq_len} is too small; use at least 8")
        check_fraction("packing.short_seq_prob", self.short_seq_prob)
        check_positive("packing.num_workers", self.num_workers)
        check_positive("packing.shard_tokens", self.shard_tokens)
        check_positive("packing.random_next_pool", self.random_next_pool)
        check_positive("packing.word_cache_entries", self.word_cache_entries)
