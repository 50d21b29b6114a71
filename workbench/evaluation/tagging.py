"""Tag-scheme conversion: IOB1 and plain (prefix-less) tags to IOB2.

IOB2 begins every entity with ``B-``. IOB1 (the original CoNLL-2003 files) uses
``B-`` only between two adjacent entities of the same type, so an ``I-X`` that
follows ``O`` or another type starts an entity. Plain tags (``PER``, ``LOC``,
``O``; WikiNER) mark each token with its type: a run of the same type is one
entity.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from workbench.evaluation.errors import TaskDataError


def split_tag(tag: str, where: str = "") -> tuple[str, Optional[str]]:
    """``B-PER`` -> (``B``, ``PER``); ``O`` -> (``O``, None). Raises on anything else."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in ("B", "I") and kind:
        return prefix, kind
    raise TaskDataError(
        f"{where}: tag {tag!r} is not IOB (expected O, B-<type> or I-<type>);"
        " set task.tag_scheme=plain for prefix-less tags"
    )


def to_iob2(tags: Sequence[str], scheme: str, where: str = "") -> List[str]:
    """Convert one sentence's tags from ``scheme`` (iob2 | iob1 | plain) to IOB2."""
    if scheme == "iob2":
        for tag in tags:
            if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
                split_tag(tag, where)  # raises with the message
        return list(tags)
    out: List[str] = []
    previous: Optional[str] = None  # entity type of the previous token (None: outside)
    for tag in tags:
        if scheme == "plain":
            if tag == "O":
                out.append("O")
                previous = None
                continue
            if "-" in tag and tag.split("-", 1)[0] in ("B", "I"):
                raise TaskDataError(f"{where}: tag {tag!r} has an IOB prefix but task.tag_scheme=plain; use iob1 or iob2")
            out.append(("I-" if previous == tag else "B-") + tag)
            previous = tag
        elif scheme == "iob1":
            prefix, kind = split_tag(tag, where)
            if prefix == "O":
                out.append("O")
            elif prefix == "B" or previous != kind:
                out.append("B-" + kind)
            else:
                out.append("I-" + kind)
            previous = kind
        else:
            raise ValueError(f"unknown tag scheme {scheme!r}")
    return out
