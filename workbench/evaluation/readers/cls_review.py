"""Webis-CLS-10 ``.review`` files (the unprocessed XML release of the CLS Amazon reviews).

Each ``<item>`` holds ``<rating>`` (1-5), ``<text>``, ``<summary>``, ``<title>``...
The label follows the CLS protocol: rating > 3 is positive, rating < 3 negative
(the corpus has no 3-star reviews; one is an error). Items are read with a
tolerant scanner (the release is not always well-formed XML) and entities are
unescaped exactly as an XML parser would.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import List

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import TextExample

_ITEM = re.compile(r"<item>(.*?)</item>", re.S)
_FIELD = {name: re.compile(rf"<{name}>(.*?)</{name}>|<{name}\s*/>", re.S) for name in ("rating", "text", "summary", "title")}


def _field(body: str, name: str) -> str:
    match = _FIELD[name].search(body)
    if match is None:
        return ""
    return html.unescape(match.group(1) or "")


def read_cls_review(path: Path, task: TaskConfig) -> List[TextExample]:
    content = path.read_text(encoding="utf-8")
    examples = []
    line, counted = 1, 0
    for match in _ITEM.finditer(content):
        body = match.group(1)
        line += content.count("\n", counted, match.start())
        counted = match.start()
        where = f"{path}:{line}"
        rating_text = _field(body, "rating").strip()
        try:
            rating = float(rating_text)
        except ValueError:
            raise TaskDataError(f"{where}: <item> without a numeric <rating> (got {rating_text!r})") from None
        if rating == 3:
            raise TaskDataError(f"{where}: rating 3 is neither positive nor negative in the CLS protocol")
        parts = [_field(body, name).strip() for name in task.review_fields]
        text = " ".join(part for part in parts if part)
        examples.append(TextExample(text, None, "positive" if rating > 3 else "negative", where))
    if not examples:
        raise TaskDataError(f"{path}: no <item> found; task.format=cls_review expects the Webis-CLS-10 .review XML")
    return examples
