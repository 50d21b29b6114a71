"""One model input built from one example (QA contexts and long NER sentences give several)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

IGNORE_INDEX = -100  # label of positions the loss and the metrics skip (special tokens, non-first sub-words)


@dataclass
class Feature:
    input_ids: List[int]
    token_type_ids: List[int]
    example_index: int
    label: Optional[int] = None  # sequence classification
    token_labels: Optional[List[int]] = None  # token classification: label of each first sub-word, IGNORE_INDEX elsewhere
    word_index: Optional[List[int]] = None  # token classification: word of each first sub-word, -1 elsewhere
    start_position: Optional[int] = None  # extractive QA: answer span in tokens (0 = CLS when not in this window)
    end_position: Optional[int] = None
    offsets: Optional[List[Optional[Tuple[int, int]]]] = None  # extractive QA: context characters of each token, None outside the context

    def __len__(self) -> int:
        return len(self.input_ids)
