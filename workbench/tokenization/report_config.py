"""Schema of ``tokenizer_report``: which vocabularies to compare, on which held-out text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from workbench.config.choices import check_positive
from workbench.corpus.config import SourceConfig


@dataclass
class TokenizerReportConfig:
    tokenizers: List[str] = field(default_factory=list)  # folder names under paths.tokenizers; empty: tokenizer.name
    # text per language, not a file the tokenizers were trained on (an error); empty: the validation side of
    # corpus.sources (the documents prepare holds out, by document hash: workbench/tokenization/heldout.py)
    heldout: List[SourceConfig] = field(default_factory=list)
    max_lines: int = 5000  # per language, the first non-empty held-out lines
    output_dir: str = "tokenizers/report"

    def __post_init__(self) -> None:
        check_positive("tokenizer_report.max_lines", self.max_lines)
