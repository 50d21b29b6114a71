"""CoNLL-style column files: one token per line, columns separated by tabs or spaces, blank line between sentences.

Covers CoNLL-2003 (token POS chunk tag, IOB1, ``-DOCSTART-`` lines), WikiNEuRal
(index token tag, IOB2), the XTREME PAN-X files (token tag; the test file has
tokens only and is read as unlabeled) and Europeana (token tag without sentence
breaks: ``task.sentence_break_tokens`` ends sentences). Tags are converted to IOB2.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.errors import TaskDataError
from workbench.evaluation.examples import TaggedSentence
from workbench.evaluation.tagging import to_iob2

DOCSTART = "-DOCSTART-"


def read_conll(path: Path, task: TaskConfig) -> List[TaggedSentence]:
    breaks = frozenset(task.sentence_break_tokens)
    token_i, tag_i, comment = task.token_column, task.tag_column, task.comment_prefix
    sentences: List[Tuple[int, List[str], List[str]]] = []  # (first line, tokens, tags)
    tokens: List[str] = []
    tags: List[str] = []
    first_line = 0
    one_column: Optional[int] = None  # first line with a single column
    several_columns = False

    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.rstrip("\r\n")
            if not line or line.isspace():
                if tokens:
                    sentences.append((first_line, tokens, tags))
                    tokens, tags = [], []
                continue
            if comment and line.startswith(comment):
                continue
            columns = line.split("\t") if "\t" in line else line.split()
            if columns[0] == DOCSTART:
                if tokens:
                    sentences.append((first_line, tokens, tags))
                    tokens, tags = [], []
                continue
            if not tokens:
                first_line = number
            if len(columns) == 1:
                one_column = one_column or number
                tokens.append(columns[0])
            else:
                several_columns = True
                try:
                    tokens.append(columns[token_i])
                    tags.append(columns[tag_i])
                except IndexError:
                    raise TaskDataError(
                        f"{path}:{number}: {len(columns)} columns, no token_column={token_i} / tag_column={tag_i}"
                    ) from None
            if breaks and tokens[-1] in breaks:
                sentences.append((first_line, tokens, tags))
                tokens, tags = [], []
    if tokens:
        sentences.append((first_line, tokens, tags))
    if not sentences:
        raise TaskDataError(f"{path}: no sentence found; task.format=conll expects one token per line")
    if one_column is not None and several_columns:
        raise TaskDataError(f"{path}:{one_column}: a line with one column (no tag) in a tagged file")
    labeled = several_columns
    out = []
    for first, sentence_tokens, sentence_tags in sentences:
        iob2 = tuple(to_iob2(sentence_tags, task.tag_scheme, f"{path}:{first}")) if labeled else None
        out.append(TaggedSentence(tuple(sentence_tokens), iob2, f"{path}:{first}"))
    return out
