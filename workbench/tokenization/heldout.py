"""The tokenizer report's held-out text, and the check that it is not the tokenizer's training text.

Default (``tokenizer_report.heldout`` empty): the validation side of ``corpus.sources``: the documents
``prepare`` holds out for validation, chosen by the same rule (the content hash of the cleaned document,
``corpus.validation_fraction``; ``workbench.corpus.cleaning``). An explicit ``tokenizer_report.heldout`` must not
read a file a compared tokenizer was trained on (its ``manifest.json`` names its corpus sources).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Set

from workbench.corpus.cleaning import CleaningRules, clean_document, document_hash, is_validation
from workbench.corpus.config import CorpusConfig, SourceConfig
from workbench.text.sources import iter_source_documents, resolve_files
from workbench.tokenization.report import ReportError


def validation_side_lines(corpus: CorpusConfig, max_lines: int) -> Dict[str, List[str]]:
    """Per language, the first ``max_lines`` cleaned lines of the documents on the validation side of ``corpus``."""
    rules = CleaningRules(normalization=corpus.normalization, min_chars=corpus.min_chars, max_chars=corpus.max_chars,
                          min_alpha_fraction=corpus.min_alpha_fraction)
    lines: Dict[str, List[str]] = defaultdict(list)
    for source in corpus.sources:
        for document in iter_source_documents(source, corpus.document_boundary):
            if len(lines[source.language]) >= max_lines:
                break
            kept = clean_document(document.text, rules, {})
            if kept and is_validation(document_hash(kept), corpus.validation_fraction):
                lines[source.language].extend(kept[: max_lines - len(lines[source.language])])
    return {language: found for language, found in lines.items() if found}


def _files(patterns: Sequence[str]) -> Set[Path]:
    files: Set[Path] = set()
    for pattern in patterns:
        try:
            files.update(path.resolve() for path in resolve_files(pattern))
        except (OSError, ValueError):  # a training source no longer on disk cannot overlap
            continue
    return files


def training_sources(tokenizer_dir: Path) -> List[str]:
    """The corpus source paths the tokenizer's manifest records (empty when it records none)."""
    manifest = tokenizer_dir / "manifest.json"
    if not manifest.is_file():
        return []
    corpus = json.loads(manifest.read_text(encoding="utf-8")).get("corpus") or {}
    return [str(path) for path in corpus.get("sources", [])]


def check_not_training_text(heldout: Sequence[SourceConfig], tokenizer_dirs: Sequence[Path]) -> None:
    """One clear error when an explicit held-out source reads a file a tokenizer was trained on."""
    for directory in tokenizer_dirs:
        trained_on = _files(training_sources(directory))
        for source in heldout:
            if source.kind != "text":
                continue
            shared = sorted(_files([source.path]) & trained_on)
            if shared:
                raise ReportError(
                    f"tokenizer_report.heldout {source.path!r} is training text: {directory.name} was trained on"
                    f" {shared[0]} (its manifest.json corpus.sources), so its unknown-token rate there says nothing"
                    " about unseen text; set tokenizer_report.heldout to other files, or leave it empty for the"
                    " validation side of corpus.sources"
                )
