"""Segmentation statistics of one tokenizer on held-out lines (pure computation, no files).

Words are the whitespace-separated words of the raw lines; each token is assigned
to the word containing its first character (token offsets point into the raw
line), so every tokenizer is measured against the same word boundaries.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass
from typing import Dict, List, Sequence, Tuple

from workbench.tokenization.tokenizer import Tokenizer

HARD_FRENCH_WORDS = ("aujourd'hui", "l'hôpital", "anticonstitutionnellement", "qu'il", "peut-être")
TRUNCATION_LENGTHS = (128, 512)
_BATCH = 1_000


@dataclass
class SegmentationStats:
    lines: int
    words: int  # whitespace-separated words of the raw lines
    tokens: int
    fertility: float  # tokens per word
    split_share: float  # share of words cut into more than one token
    unk_rate: float  # share of tokens that are the unknown token
    words_with_unk: float  # share of words containing an unknown token
    char_coverage: float  # share of non-space characters not swallowed by an unknown token
    truncated: Dict[int, float]  # max length (special tokens included) -> share of lines longer than it

    def as_dict(self) -> Dict:
        return asdict(self)


def _word_spans(line: str) -> Tuple[List[int], List[int]]:
    starts, ends = [], []
    position = 0
    for word in line.split():
        start = line.index(word, position)
        starts.append(start)
        ends.append(start + len(word))
        position = start + len(word)
    return starts, ends


def segmentation_stats(tokenizer: Tokenizer, lines: Sequence[str]) -> SegmentationStats:
    lines = [line for line in lines if line.strip()]
    words = tokens = split = unk = words_unk = chars = unk_chars = 0
    too_long = {limit: 0 for limit in TRUNCATION_LENGTHS}
    specials = tokenizer.num_special_tokens(pair=False)
    for begin in range(0, len(lines), _BATCH):
        batch = lines[begin : begin + _BATCH]
        for line, encoding in zip(batch, tokenizer.encode_batch_with_offsets(batch)):
            starts, ends = _word_spans(line)
            per_word = [0] * len(starts)
            unk_words = set()
            for token_id, (start, end) in zip(encoding.ids, encoding.offsets):
                word = max(bisect.bisect_right(starts, start) - 1, 0) if starts else None
                if word is not None:
                    per_word[word] += 1
                if token_id == tokenizer.unk_id:
                    unk += 1
                    unk_chars += sum(1 for char in line[start:end] if not char.isspace())
                    if word is not None:
                        unk_words.add(word)
            words += len(starts)
            tokens += len(encoding.ids)
            split += sum(1 for count in per_word if count > 1)
            words_unk += len(unk_words)
            chars += sum(end - start for start, end in zip(starts, ends))
            for limit in TRUNCATION_LENGTHS:
                too_long[limit] += len(encoding.ids) + specials > limit
    return SegmentationStats(
        lines=len(lines),
        words=words,
        tokens=tokens,
        fertility=tokens / words if words else 0.0,
        split_share=split / words if words else 0.0,
        unk_rate=unk / tokens if tokens else 0.0,
        words_with_unk=words_unk / words if words else 0.0,
        char_coverage=1.0 - unk_chars / chars if chars else 1.0,
        truncated={limit: (count / len(lines) if lines else 0.0) for limit, count in too_long.items()},
    )


def example_segmentations(tokenizer: Tokenizer, words: Sequence[str] = HARD_FRENCH_WORDS) -> Dict[str, List[str]]:
    return {word: tokenizer.tokenize(word) for word in words}
