"""Token classification features: the label goes on the first sub-word of each word, the others get -100.

A sentence longer than ``max_seq_len`` is cut at word boundaries into several
features (no word is dropped: every word gets a prediction). A single word
with more sub-words than fit keeps its first ones (only the first is scored).
Words that produce no token at all (e.g. a lone control character) are
predicted ``O`` at prediction time.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

from workbench.evaluation.examples import TaggedSentence
from workbench.evaluation.features.feature import IGNORE_INDEX, Feature
from workbench.tokenization.tokenizer import Tokenizer


def _word_spans(word_ids: Sequence[int | None], n_words: int) -> List[List[int]]:
    """Token positions of each word (in order)."""
    spans: List[List[int]] = [[] for _ in range(n_words)]
    for position, word in enumerate(word_ids):
        if word is not None:
            spans[word].append(position)
    return spans


def token_features(
    examples: Sequence[TaggedSentence], tokenizer: Tokenizer, labels: Sequence[str], max_seq_len: int
) -> List[Feature]:
    label_ids: Dict[str, int] = {label: index for index, label in enumerate(labels)}
    budget = max_seq_len - tokenizer.num_special_tokens(False)
    encodings = tokenizer.backend.encode_batch(
        [list(example.tokens) for example in examples], is_pretokenized=True, add_special_tokens=False
    )
    features = []
    for index, (example, encoding) in enumerate(zip(examples, encodings)):
        ids = encoding.ids
        spans = _word_spans(encoding.word_ids, len(example.tokens))
        chunk_ids: List[int] = []
        chunk_labels: List[int] = []
        chunk_words: List[int] = []

        def flush() -> None:
            if chunk_ids:
                full, types = tokenizer.build_inputs(chunk_ids)
                features.append(
                    Feature(full, types, index, token_labels=[IGNORE_INDEX, *chunk_labels, IGNORE_INDEX],
                            word_index=[-1, *chunk_words, -1])
                )

        for word, positions in enumerate(spans):
            if not positions:
                continue
            pieces = [ids[p] for p in positions][:budget]
            if len(chunk_ids) + len(pieces) > budget:
                flush()
                chunk_ids, chunk_labels, chunk_words = [], [], []
            tag = example.tags[word] if example.tags is not None else None
            first_label = label_ids.get(tag, IGNORE_INDEX) if tag is not None else IGNORE_INDEX
            chunk_ids.extend(pieces)
            chunk_labels.extend([first_label] + [IGNORE_INDEX] * (len(pieces) - 1))
            chunk_words.extend([word] + [-1] * (len(pieces) - 1))
        flush()
    return features
