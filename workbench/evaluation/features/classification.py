"""Sentence and sentence-pair classification features: special tokens, longest-first truncation, label ids."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from workbench.evaluation.examples import TextExample
from workbench.evaluation.features.feature import Feature
from workbench.tokenization.tokenizer import Tokenizer


def truncate_pair(first: List[int], second: Optional[List[int]], budget: int) -> None:
    """Longest-first truncation in place (the rule of BERT's and transformers' pair truncation)."""
    if second is None:
        del first[budget:]
        return
    while len(first) + len(second) > budget:
        if len(first) >= len(second):
            first.pop()
        else:
            second.pop()


def classification_features(
    examples: Sequence[TextExample], tokenizer: Tokenizer, labels: Sequence[str], max_seq_len: int
) -> List[Feature]:
    label_ids: Dict[str, int] = {label: index for index, label in enumerate(labels)}
    firsts = tokenizer.encode_batch([example.text for example in examples])
    pairs = [example.pair is not None for example in examples]
    seconds_iter = iter(tokenizer.encode_batch([example.pair for example in examples if example.pair is not None]))
    features = []
    for index, (example, first) in enumerate(zip(examples, firsts)):
        second = next(seconds_iter) if pairs[index] else None
        budget = max_seq_len - tokenizer.num_special_tokens(second is not None)
        truncate_pair(first, second, budget)
        ids, types = tokenizer.build_inputs(first, second)
        label = label_ids[example.label] if example.label is not None else None
        features.append(Feature(ids, types, index, label=label))
    return features
