"""Stage ``tokenizer report``: compare vocabularies side by side on held-out text per language."""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

from workbench.config.root import WorkbenchConfig
from workbench.config.typed import require
from workbench.text.sources import iter_source_lines
from workbench.tokenization.report import ReportError, report_tokenizers

log = logging.getLogger(__name__)


def compare_vocabularies(cfg: WorkbenchConfig) -> Path:
    require(cfg, ["tokenizer", "corpus"], "tokenizer report")
    assert cfg.tokenizer is not None and cfg.corpus is not None
    settings = cfg.tokenizer_report
    names = settings.tokenizers or [cfg.tokenizer.name]
    sources = settings.heldout or cfg.corpus.sources
    lines: Dict[str, List[str]] = defaultdict(list)
    for source in sources:
        wanted = settings.max_lines - len(lines[source.language])
        text = (line for line in iter_source_lines(source) if line.strip())
        lines[source.language].extend(itertools.islice(text, max(wanted, 0)))
    if not any(lines.values()):
        given = "tokenizer_report.heldout" if settings.heldout else "corpus.sources (tokenizer_report.heldout is empty)"
        raise ReportError(
            f"no held-out text: no non-blank line in {', '.join(repr(source.path) for source in sources)};"
            f" set {given} to text files"
        )
    report = report_tokenizers([Path(cfg.paths.tokenizers) / name for name in names], dict(lines), settings.output_dir)
    log.info("tokenizer report: %s", report)
    return report


run = compare_vocabularies
