"""Side-by-side quality report of several vocabularies on held-out text, per language.

``report_tokenizers(dirs, heldout_lines_by_language, out_dir)`` writes
``tokenizer_report.md`` (tables + example segmentations of hard French words),
``tokenizer_report.png`` (matplotlib, Agg backend) and ``tokenizer_report.json``
(the same numbers), and returns the markdown path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Sequence

from workbench.artifacts.atomic import atomic_file, write_json, write_text
from workbench.tokenization.report_metrics import (
    HARD_FRENCH_WORDS,
    TRUNCATION_LENGTHS,
    SegmentationStats,
    example_segmentations,
    segmentation_stats,
)
from workbench.tokenization.tokenizer import Tokenizer

REPORT_MD = "tokenizer_report.md"
REPORT_PNG = "tokenizer_report.png"
REPORT_JSON = "tokenizer_report.json"


class ReportError(ValueError):
    """The report inputs are unusable; the message says which and how to fix it."""


def _label(tokenizer: Tokenizer, directory: Path) -> str:
    return tokenizer.meta.get("name") or directory.name


def report_tokenizers(
    dirs: Sequence[str | Path],
    heldout_lines_by_language: Mapping[str, Sequence[str]],
    out_dir: str | Path,
    source_note: str = "",
) -> Path:
    """``source_note``: one sentence saying where the held-out text comes from (printed at the top)."""
    if not dirs:
        raise ReportError("no tokenizer folder given; pass one or more tokenizers/<name>/ folders")
    if not heldout_lines_by_language or not any(
        any(line.strip() for line in lines) for lines in heldout_lines_by_language.values()
    ):
        raise ReportError("no held-out text given; pass {language: [lines...]} with at least one non-blank line")
    out_dir = Path(out_dir)
    tokenizers: Dict[str, Tokenizer] = {}
    for directory in map(Path, dirs):
        tokenizer = Tokenizer.load(directory)
        label = _label(tokenizer, directory)
        if label in tokenizers:
            label = f"{label} ({directory})"
        tokenizers[label] = tokenizer
    stats: Dict[str, Dict[str, SegmentationStats]] = {
        label: {language: segmentation_stats(tok, lines) for language, lines in heldout_lines_by_language.items()}
        for label, tok in tokenizers.items()
    }
    examples = {label: example_segmentations(tok) for label, tok in tokenizers.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        out_dir / REPORT_JSON,
        {
            "heldout": source_note,
            "tokenizers": {
                label: {
                    "algorithm": tok.algorithm,
                    "family": tok.family,
                    "vocab_size": tok.vocab_size,
                    "languages": {language: s.as_dict() for language, s in stats[label].items()},
                    "examples": examples[label],
                }
                for label, tok in tokenizers.items()
            }
        },
    )
    _plot(stats, out_dir / REPORT_PNG)
    markdown = out_dir / REPORT_MD
    write_text(markdown, _markdown(tokenizers, stats, examples, source_note))
    return markdown


def _markdown(tokenizers: Mapping[str, Tokenizer], stats, examples, source_note: str = "") -> str:
    lines = ["# Tokenizer report", ""]
    if source_note:
        lines += [source_note, ""]
    lines += ["| tokenizer | algorithm | family | vocab size |", "|---|---|---|---:|"]
    for label, tok in tokenizers.items():
        lines.append(f"| {label} | {tok.algorithm} | {tok.family} | {tok.vocab_size} |")
    languages = sorted({language for per in stats.values() for language in per})
    for language in languages:
        lines += ["", f"## {language}", ""]
        header = "| tokenizer | lines | words | fertility | words split | unk rate | words with unk | char coverage | "
        header += " | ".join(f"> {limit} tokens" for limit in TRUNCATION_LENGTHS) + " |"
        lines += [header, "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(TRUNCATION_LENGTHS)]
        for label in tokenizers:
            s = stats[label][language]
            truncated = " | ".join(f"{100 * s.truncated[limit]:.2f}%" for limit in TRUNCATION_LENGTHS)
            lines.append(
                f"| {label} | {s.lines} | {s.words} | {s.fertility:.3f} | {100 * s.split_share:.2f}% |"
                f" {100 * s.unk_rate:.3f}% | {100 * s.words_with_unk:.3f}% | {100 * s.char_coverage:.3f}% | {truncated} |"
            )
    lines += ["", "## Example segmentations", "", "| word | " + " | ".join(tokenizers) + " |"]
    lines.append("|---|" + "---|" * len(tokenizers))
    for word in HARD_FRENCH_WORDS:
        cells = [" ".join(f"`{piece}`" for piece in examples[label][word]) for label in tokenizers]
        lines.append(f"| {word} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Fertility: tokens per whitespace-separated word. Words split: share of words cut into several tokens."
        " Char coverage: share of normalized character occurrences encodable without the unknown token."
        " Truncation: share of lines longer than the limit once the family's special tokens are added.",
        "",
    ]
    return "\n".join(lines)


PLOT_PANELS = (  # (title, value, why the panel can be empty: every bar 0)
    ("fertility (tokens / word)", lambda s: s.fertility, "no word in the held-out text"),
    ("words split (%)", lambda s: 100 * s.split_share, "no held-out word is cut into several tokens"),
    ("unknown tokens (%)", lambda s: 100 * s.unk_rate,
     "every held-out character is in the vocabularies (byte-level vocabularies have no unknown token)"),
    (f"lines > {TRUNCATION_LENGTHS[0]} tokens (%)", lambda s: 100 * s.truncated[TRUNCATION_LENGTHS[0]],
     f"no held-out line is longer than {TRUNCATION_LENGTHS[0]} tokens"),
)


def _plot(stats: Mapping[str, Mapping[str, SegmentationStats]], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure = plot_figure(stats)
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=110)
    plt.close(figure)


def plot_figure(stats: Mapping[str, Mapping[str, SegmentationStats]]):
    """The report's four panels (one bar per tokenizer and language); a panel whose bars are all 0 says why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = list(stats)
    languages = sorted({language for per in stats.values() for language in per})
    figure, axes = plt.subplots(2, 2, figsize=(11, 7))
    width = 0.8 / max(len(labels), 1)
    x = np.arange(len(languages))
    for axis, (title, value, why) in zip(axes.flat, PLOT_PANELS):
        values = {label: [value(stats[label][language]) for language in languages] for label in labels}
        for index, label in enumerate(labels):
            axis.bar(x + index * width, values[label], width, label=label)
        axis.set_title(title)
        axis.set_xticks(x + width * (len(labels) - 1) / 2)
        axis.set_xticklabels(languages)
        if not any(v > 0 for per in values.values() for v in per):  # zero-height bars look like a broken plot
            axis.text(0.5, 0.5, f"0 for every tokenizer and language:\n{why}", ha="center", va="center",
                      fontsize=9, color="#555", transform=axis.transAxes)
    axes.flat[0].legend(fontsize=8)
    figure.tight_layout()
    return figure
