"""SQuAD answers whose answer_start is off (or outside the context) are re-anchored, counted and named in a warning."""

from __future__ import annotations

import json
import logging

import pytest

from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.readers.squad_json import read_squad_json

CONTEXT = "Le chat dort. Le chien aboie. Le chat mange."


def _squad(tmp_path, answers):
    qas = [{"id": qid, "question": "Qui ?", "answers": [{"text": text, "answer_start": start}]} for qid, text, start in answers]
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}), encoding="utf-8")
    return path


def test_misaligned_and_out_of_context_offsets_are_counted_and_named(tmp_path, caplog):
    path = _squad(tmp_path, [("ok", "chien", 17), ("off", "chat", 35), ("outside", "chat", 400), ("negative", "chien", -5)])
    with caplog.at_level(logging.WARNING, logger="workbench.evaluation.readers.squad_json"):
        examples = read_squad_json(path)
    starts = {example.id: example.answers[0].start for example in examples}
    assert starts == {"ok": 17, "off": CONTEXT.rindex("chat"), "outside": CONTEXT.rindex("chat"), "negative": 17}
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = record.getMessage()
    assert str(path) in message and "3 answer(s)" in message and "question id(s): off, outside, negative" in message


def test_aligned_answers_give_no_warning_and_missing_text_is_an_error(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        read_squad_json(_squad(tmp_path, [("ok", "chien", 17)]))
    assert not caplog.records
    with pytest.raises(TaskDataError, match=r"question id gone\): answer 'loup' does not occur"):
        read_squad_json(_squad(tmp_path, [("gone", "loup", 0)]))
