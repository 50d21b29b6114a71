"""The ``README.md`` model card of a transformers export, in the Hugging Face convention.

A YAML front matter (``language``, ``license``, ``library_name``, ``pipeline_tag``, ``datasets``, ``tags`` and a
``model-index`` holding the evaluation metrics with their values), then the card itself: architecture and
parameter count, tokenizer, pretraining corpus (token count and licence as recorded in provenance), training
recipe and hardware, the evaluation table with its seeds and the gain over random initialisation where known.
Pure text: the callers (``workbench.training.export``, ``workbench.evaluation.export_finetuned``) gather the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import yaml

CARD_FILE = "README.md"
UNKNOWN_LICENSE = "other"  # the Hub's value for "a licence not in its list, or none stated"

PIPELINE_TAGS = {  # workbench task kind (or "pretraining") -> the Hub's pipeline_tag
    "pretraining": "fill-mask",
    "classification": "text-classification",
    "pair_classification": "text-classification",
    "multilabel_classification": "text-classification",
    "token_classification": "token-classification",
    "extractive_qa": "question-answering",
}
TASK_NAMES = {
    "fill-mask": "Fill-Mask", "text-classification": "Text Classification",
    "token-classification": "Token Classification", "question-answering": "Question Answering",
}


@dataclass
class ModelCardConfig:
    """``model_card.*``: what the user states about the models they export (pretraining runs and ``eval`` jobs)."""

    license: str = UNKNOWN_LICENSE  # the Hub's licence identifier, e.g. apache-2.0, mit, cc-by-4.0; "other": unstated
    language: List[str] = field(default_factory=list)  # empty: the corpus sources' (pretraining) or the task's languages


@dataclass
class EvaluationRow:
    """One score of the evaluation table: the mean over ``seeds`` (percent)."""

    task: str
    task_kind: str
    split: str
    metric: str
    value: float
    seeds: List[int]
    std: Optional[float] = None  # over the seeds, when there are several


@dataclass
class GainRow:
    """The gain over the same architecture fine-tuned from its random initialisation (points), on one task."""

    task: str
    metric: str
    gain: float
    pretrained: float
    random_init: float
    seeds: List[int]


@dataclass
class ModelCard:
    name: str
    license: str
    language: List[str]
    pipeline_tag: str
    summary: str  # one paragraph: what the model is
    architecture: Dict[str, Any]  # class, family, layers, hidden size, ...
    parameters: int
    tokenizer: Dict[str, Any]
    datasets: List[str] = field(default_factory=list)
    corpus: Optional[Dict[str, Any]] = None  # name, sources, tokens, licence
    recipe: Dict[str, Any] = field(default_factory=dict)
    hardware: Dict[str, Any] = field(default_factory=dict)
    evaluation: List[EvaluationRow] = field(default_factory=list)
    gains: List[GainRow] = field(default_factory=list)
    labels: List[str] = field(default_factory=list)
    usage: str = ""  # a Python snippet
    provenance: Dict[str, Any] = field(default_factory=dict)  # code version, created, source model


def _model_index(card: ModelCard) -> List[Dict[str, Any]]:
    results = []
    for row in card.evaluation:
        tag = PIPELINE_TAGS.get(row.task_kind, card.pipeline_tag)
        results.append({
            "task": {"type": tag, "name": TASK_NAMES.get(tag, tag)},
            "dataset": {"name": row.task, "type": row.task, "split": row.split},
            "metrics": [{"type": row.metric, "value": round(float(row.value), 4), "name": f"{row.metric} ({row.split})",
                         "args": {"seeds": list(row.seeds)}}],
        })
    return [{"name": card.name, "results": results}] if results else []


def front_matter(card: ModelCard) -> Dict[str, Any]:
    meta: Dict[str, Any] = {
        "language": list(card.language) or ["multilingual"],
        "license": card.license,
        "library_name": "transformers",
        "pipeline_tag": card.pipeline_tag,
        "tags": ["workbench", str(card.architecture.get("family", "encoder"))],
    }
    if card.datasets:
        meta["datasets"] = list(card.datasets)
    index = _model_index(card)
    if index:
        meta["model-index"] = index
    return meta


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _pairs(values: Dict[str, Any]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in values.items() if value is not None and value != "")


def render(card: ModelCard) -> str:
    """The README.md text: front matter, then the card's sections."""
    parts = ["---\n" + yaml.safe_dump(front_matter(card), sort_keys=False, allow_unicode=True) + "---", f"# {card.name}",
             card.summary]
    parts.append("## Architecture\n\n" + _pairs({**card.architecture, "parameters": f"{card.parameters:,}"}))
    parts.append("## Tokenizer\n\n" + _pairs(card.tokenizer))
    if card.labels:
        parts.append("## Labels\n\n" + ", ".join(f"`{label}`" for label in card.labels))
    if card.corpus:
        parts.append("## Pretraining corpus\n\n" + _pairs(card.corpus))
    if card.recipe:
        parts.append("## Training recipe\n\n" + _pairs(card.recipe))
    if card.hardware:
        parts.append("## Hardware\n\n" + _pairs(card.hardware))
    if card.evaluation:
        rows = [(r.task, r.split, r.metric, f"{r.value:.2f}" + (f" ± {r.std:.2f}" if r.std is not None else ""),
                 ", ".join(str(s) for s in r.seeds)) for r in card.evaluation]
        parts.append("## Evaluation\n\nScores in percent; the mean over the seeds listed.\n\n"
                     + _table(rows, ["task", "split", "metric", "score", "seeds"]))
    else:
        parts.append("## Evaluation\n\nNot evaluated when this card was written.")
    if card.gains:
        rows = [(g.task, g.metric, f"{g.pretrained:.2f}", f"{g.random_init:.2f}", f"{g.gain:+.2f}",
                 ", ".join(str(s) for s in g.seeds)) for g in card.gains]
        parts.append("## Gain over random initialisation\n\nThe same architecture, tokenizer and fine-tuning recipe"
                     " started from the family's random initialisation (test split, points).\n\n"
                     + _table(rows, ["task", "metric", "pretrained", "random init", "gain", "seeds"]))
    if card.usage:
        parts.append("## Usage\n\n```python\n" + card.usage.strip() + "\n```")
    if card.provenance:
        parts.append("## Provenance\n\n" + _pairs(card.provenance))
    return "\n\n".join(parts) + "\n"


def parse_front_matter(text: str) -> Dict[str, Any]:
    """The YAML metadata of a model card (what the Hub reads)."""
    if not text.startswith("---\n"):
        raise ValueError("a model card starts with '---' and its YAML metadata")
    end = text.index("\n---", 4)
    return yaml.safe_load(text[4:end]) or {}
