"""Stage ``tokenizer report``: compare vocabularies side by side on held-out text per language."""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

from workbench.config.root import WorkbenchConfig
from workbench.config.typed import require
from workbench.text.sources import describe_files, iter_source_lines
from workbench.tokenization.heldout import check_not_training_text, validation_side_lines
from workbench.tokenization.report import ReportError, report_tokenizers

log = logging.getLogger(__name__)


def heldout_text(cfg: WorkbenchConfig, tokenizer_dirs: List[Path]) -> Tuple[Dict[str, List[str]], str]:
    """Per language, the held-out lines of the report, and a sentence saying where they come from."""
    assert cfg.corpus is not None
    settings = cfg.tokenizer_report
    if not settings.heldout:
        lines = validation_side_lines(cfg.corpus, settings.max_lines)
        if not lines:
            raise ReportError(
                f"no held-out text: no document of corpus.sources ({describe_files(cfg.corpus.sources)}) falls on the"
                f" validation side (corpus.validation_fraction={cfg.corpus.validation_fraction}); set"
                " tokenizer_report.heldout to text files the tokenizer was not trained on"
            )
        return lines, (
            f"Held-out text: the validation side of corpus {cfg.corpus.name} (the documents prepare holds out,"
            f" corpus.validation_fraction={cfg.corpus.validation_fraction} by document hash). A tokenizer trained on"
            " a line sample of the same files may have seen these lines; set tokenizer_report.heldout to unseen text"
            " for an unbiased unknown-token rate."
        )
    check_not_training_text(settings.heldout, tokenizer_dirs)
    found: Dict[str, List[str]] = defaultdict(list)
    for source in settings.heldout:
        wanted = settings.max_lines - len(found[source.language])
        text = (line for line in iter_source_lines(source) if line.strip())
        found[source.language].extend(itertools.islice(text, max(wanted, 0)))
    if not any(found.values()):
        raise ReportError(
            f"no held-out text: no non-blank line in {', '.join(repr(source.path) for source in settings.heldout)};"
            " set tokenizer_report.heldout to text files"
        )
    return dict(found), f"Held-out text: tokenizer_report.heldout ({describe_files(settings.heldout)})."


def compare_vocabularies(cfg: WorkbenchConfig) -> Path:
    require(cfg, ["tokenizer", "corpus"], "tokenizer report")
    assert cfg.tokenizer is not None and cfg.corpus is not None
    settings = cfg.tokenizer_report
    names = settings.tokenizers or [cfg.tokenizer.name]
    dirs = [Path(cfg.paths.tokenizers) / name for name in names]
    lines, source_note = heldout_text(cfg, dirs)
    report = report_tokenizers(dirs, lines, settings.output_dir, source_note)
    log.info("tokenizer report: %s", report)
    return report


run = compare_vocabularies
