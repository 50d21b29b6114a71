"""Extractive QA features: question + a window of the context, windows overlapping by ``doc_stride`` tokens.

Each feature keeps, for every token, the character span it covers in the
original context (``None`` for question and special tokens), so a predicted
token span maps back to the exact original characters (accents, apostrophes,
non-breaking spaces and all). Training labels point at the first answer; a
window that does not contain the whole answer is labeled with the CLS position 0.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from workbench.evaluation.errors import FinetuneError
from workbench.evaluation.examples import QAExample
from workbench.evaluation.features.feature import Feature
from workbench.tokenization.tokenizer import Tokenizer


def _trimmed(context: str, start: int, end: int) -> Tuple[int, int]:
    """A token's character span without surrounding whitespace (byte-level BPE offsets include the leading space)."""
    while start < end and context[start].isspace():
        start += 1
    while end > start and context[end - 1].isspace():
        end -= 1
    return start, end


def qa_features(
    examples: Sequence[QAExample],
    tokenizer: Tokenizer,
    max_seq_len: int,
    doc_stride: int,
    max_question_len: int,
) -> List[Feature]:
    questions = tokenizer.encode_batch([example.question.strip() for example in examples])
    unique_contexts: Dict[str, int] = {}
    for example in examples:
        unique_contexts.setdefault(example.context, len(unique_contexts))
    encodings = tokenizer.backend.encode_batch(list(unique_contexts), add_special_tokens=False)
    context_tokens = [
        (encoding.ids, [_trimmed(context, a, b) for a, b in encoding.offsets])
        for context, encoding in zip(unique_contexts, encodings)
    ]
    features: List[Feature] = []
    for index, (example, question) in enumerate(zip(examples, questions)):
        question = question[:max_question_len]
        ids, offsets = context_tokens[unique_contexts[example.context]]
        prefix_ids, _ = tokenizer.build_inputs(question, [])
        context_start = len(prefix_ids) - 1  # where the context begins: before the final separator
        window = max_seq_len - len(prefix_ids)
        if window <= doc_stride:
            raise FinetuneError(
                f"task.max_seq_len={max_seq_len} leaves {window} context tokens per window after a {len(question)}-token"
                f" question, not more than task.doc_stride={doc_stride}; raise max_seq_len or lower doc_stride/max_question_len"
            )
        answer_tokens = _answer_tokens(example, offsets)
        begin = 0
        while True:
            end = min(begin + window, len(ids))
            piece = ids[begin:end]
            full, types = tokenizer.build_inputs(question, piece)
            token_offsets: List[Optional[Tuple[int, int]]] = [None] * len(full)
            token_offsets[context_start : context_start + len(piece)] = offsets[begin:end]
            start_position = end_position = None
            if example.answers:
                start_position = end_position = 0  # CLS: the answer is not (wholly) in this window
                if answer_tokens is not None and begin <= answer_tokens[0] and answer_tokens[1] < end:
                    start_position = context_start + answer_tokens[0] - begin
                    end_position = context_start + answer_tokens[1] - begin
            features.append(
                Feature(full, types, index, start_position=start_position, end_position=end_position, offsets=token_offsets)
            )
            if end == len(ids):
                break
            begin += window - doc_stride
    return features


def _answer_tokens(example: QAExample, offsets: Sequence[Tuple[int, int]]) -> Optional[Tuple[int, int]]:
    """First and last context token overlapping the (whitespace-trimmed) first answer; None if no token does."""
    if not example.answers:
        return None
    answer = example.answers[0]
    start, end = _trimmed(example.context, answer.start, answer.start + len(answer.text))
    inside = [t for t, (a, b) in enumerate(offsets) if a < b and a < end and b > start]
    return (inside[0], inside[-1]) if inside else None
