"""SQuAD v1.1 json (SQuAD, FQuAD, PIAF, SQuAD-fr): data -> paragraphs -> qas -> answers.

An answer whose ``answer_start`` does not point at its text (PIAF has two), or lies outside its context, is
re-anchored at the nearest occurrence of the text in the context, counted and logged as a warning naming the
question ids; one whose text does not occur at all is an error naming the question id.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import Answer, QAExample

log = logging.getLogger(__name__)


def anchor_answer(context: str, text: str, start: int, where: str, moved: Optional[List[str]] = None) -> Answer:
    """The answer with ``start`` pointing at ``text`` in ``context`` (nearest occurrence if the given one is off;
    then ``where`` is appended to ``moved``)."""
    if 0 <= start and context[start : start + len(text)] == text:
        return Answer(text, start)
    candidates = []
    position = context.find(text)
    while position != -1:
        candidates.append(position)
        position = context.find(text, position + 1)
    if not candidates:
        raise TaskDataError(f"{where}: answer {text!r} does not occur in its context")
    if moved is not None:
        moved.append(where)
    return Answer(text, min(candidates, key=lambda candidate: abs(candidate - start)))


def warn_reanchored(where: str, moved: List[str], questions: List[str]) -> None:
    """One warning for the answers of ``where`` re-anchored by ``anchor_answer`` (``questions``: their ids)."""
    if moved:
        shown = ", ".join(dict.fromkeys(questions[:10]))
        more = f" (+{len(set(questions)) - 10} more)" if len(set(questions)) > 10 else ""
        log.warning(
            "%s: %d answer(s) whose answer_start does not point at their text (or lies outside the context) were"
            " re-anchored at the nearest occurrence of the text; question id(s): %s%s", where, len(moved), shown, more
        )


def examples_from_squad(data: Dict[str, Any], where: str) -> List[QAExample]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise TaskDataError(f"{where}: not SQuAD json (expected {{'data': [{{'title', 'paragraphs': [...]}}]}})")
    examples = []
    moved: List[str] = []
    moved_ids: List[str] = []
    for article in data["data"]:
        title = str(article.get("title", ""))
        for paragraph in article.get("paragraphs", []):
            try:
                context = paragraph["context"]
                for qa in paragraph["qas"]:
                    qid = str(qa["id"])
                    here = f"{where} (question id {qid})"
                    if qa.get("is_impossible"):
                        raise TaskDataError(f"{here}: unanswerable question (SQuAD v2); only v1.1-style extractive QA is supported")
                    before = len(moved)
                    answers = tuple(anchor_answer(context, a["text"], int(a["answer_start"]), here, moved) for a in qa.get("answers", []))
                    if len(moved) > before:
                        moved_ids.append(qid)
                    examples.append(QAExample(qid, title, qa["question"], context, answers, here))
            except KeyError as error:
                raise TaskDataError(f"{where}: article {title!r}: missing key {error} (SQuAD v1.1 format)") from None
    warn_reanchored(where, moved, moved_ids)
    return examples


def read_squad_json(path: Path) -> List[QAExample]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise TaskDataError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    examples = examples_from_squad(data, str(path))
    ids = [example.id for example in examples]
    if len(set(ids)) != len(ids):
        duplicate = next(qid for qid in ids if ids.count(qid) > 1)
        raise TaskDataError(f"{path}: question id {duplicate!r} appears twice; ids must be unique")
    return examples
