"""Schema of the ``tokenizer`` config group: how a vocabulary is trained."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from workbench.config.choices import ConfigError, check_choice, check_fraction, check_path_name, check_positive

ALGORITHMS = ("wordpiece", "sentencepiece_unigram", "sentencepiece_bpe", "moses_bpe", "byte_bpe")
SPECIAL_TOKEN_FAMILIES = ("bert", "roberta", "flaubert")
NORMALIZATIONS = ("NFC", "NFKC", "none")


@dataclass
class TokenizerConfig:
    name: str = MISSING  # folder under paths.tokenizers
    algorithm: str = "wordpiece"
    vocab_size: int = 32000  # final size, special tokens included; training fails clearly if the data cannot reach it
    lowercase: bool = False
    strip_accents: bool = False  # never implied by lowercase
    unicode_normalization: str = "NFC"
    # Map typographic apostrophes (U+2019 ’, U+02BC ʼ) to ASCII ' so that l’hôpital and l'hôpital share tokens.
    # Part of the saved pipeline: applied identically at training and encoding time.
    normalize_apostrophes: bool = True
    special_tokens: str = "bert"  # which family's special tokens, in that family's order
    sample_lines: int = 10_000_000  # uniform reservoir sample of lines used for training
    # XLM-style smoothing of the language mix of the sample: q_i ∝ p_i ** alpha, p_i the (weighted) share of
    # language i's lines; 1.0 keeps the natural mix, 0.5 is XLM's choice for its BPE codes.
    language_sampling_alpha: float = 1.0
    # Lines longer than this (characters) are skipped and counted in the manifest (a 10 MB line is not a sentence).
    max_line_chars: int = 100_000
    min_frequency: int = 2  # wordpiece / moses_bpe / byte_bpe: minimum count of a pair to be merged
    character_coverage: float = 0.9999  # share of character occurrences the alphabet covers (sentencepiece; wordpiece)
    model_max_length: int = 512  # written to tokenizer_config.json for transformers (truncation length)
    # dict.txt (roberta family): count each piece in the training sample (BPE: each distinct word encoded once;
    # unigram: every line encoded, about 7% of its training time); false writes the constant 100 of fairseq's
    # own SentencePiece recipe (`cut -f1 spm.vocab | sed "s/$/ 100/"`): fairseq reads only the order of the lines.
    fairseq_dict_counts: bool = True
    num_threads: int = 1  # training threads (sentencepiece); 1 keeps unigram training bit-for-bit reproducible
    seed: int = 0

    def __post_init__(self) -> None:
        check_path_name("tokenizer.name", self.name)
        check_choice("tokenizer.algorithm", self.algorithm, ALGORITHMS)
        check_choice("tokenizer.special_tokens", self.special_tokens, SPECIAL_TOKEN_FAMILIES)
        check_choice("tokenizer.unicode_normalization", self.unicode_normalization, NORMALIZATIONS)
        check_positive("tokenizer.vocab_size", self.vocab_size)
        check_positive("tokenizer.sample_lines", self.sample_lines)
        check_positive("tokenizer.language_sampling_alpha", self.language_sampling_alpha, allow_zero=True)
        check_positive("tokenizer.max_line_chars", self.max_line_chars)
        check_positive("tokenizer.min_frequency", self.min_frequency, allow_zero=True)
        check_fraction("tokenizer.character_coverage", self.character_coverage)
        check_positive("tokenizer.model_max_length", self.model_max_length)
        check_positive("tokenizer.num_threads", self.num_threads)
        if self.character_coverage < 0.9:
            raise ConfigError(
                f"tokenizer.character_coverage={self.character_coverage!r} would drop common characters;"
                " use a value in [0.9, 1.0] (0.9995 for CJK-heavy data, 0.9999 or 1.0 otherwise)"
            )
        if self.algorithm == "moses_bpe":
            # The pipeline is FlauBERT's (transformers.FlaubertTokenizer): NFC, optional lowercase, French Moses
            # punctuation normalization (which maps ’ to ') and tokenization, no accent stripping. Other settings cannot be
            # reproduced by the exported tokenizer, so they are refused instead of silently ignored.
            if self.unicode_normalization != "NFC":
                raise ConfigError(
                    "tokenizer.algorithm=moses_bpe follows FlauBERT's preprocessing, which is NFC;"
                    f" set tokenizer.unicode_normalization=NFC (got {self.unicode_normalization!r})"
                )
            if self.strip_accents:
                raise ConfigError(
                    "tokenizer.algorithm=moses_bpe cannot strip accents (FlaubertTokenizer keeps them);"
                    " set tokenizer.strip_accents=false"
                )
            if not self.normalize_apostrophes:
                raise ConfigError(
                    "tokenizer.algorithm=moses_bpe always maps ’ to ' (Moses replace-unicode-punctuation);"
                    " set tokenizer.normalize_apostrophes=true"
                )
