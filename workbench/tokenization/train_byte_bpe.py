"""Byte-level BPE (GPT-2 / RoBERTa) with `tokenizers`: every text is representable, no unknown token.

Pipeline: workbench's normalizer (accents kept unless asked), GPT-2's byte-level
pre-tokenizer (regex split, bytes mapped to printable characters, no prefix
space -- RoBERTa's choice), BPE over the 256 byte symbols. Native artefacts:
``vocab.json`` + ``merges.txt`` in GPT-2 format, and ``dict.txt`` for the
roberta family.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Sequence

import numpy as np
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from workbench.artifacts.atomic import write_text
from workbench.tokenization.assemble import TrainedVocabulary, check_reachable, normalizer_for
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.fairseq_dict import write_dict_rows, write_fairseq_dict
from workbench.tokenization.families import Family

BYTES = 256


def _configure(backend: HFTokenizer, config: TokenizerConfig) -> HFTokenizer:
    backend.normalizer = normalizer_for(config)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    return backend


def train_byte_bpe(config: TokenizerConfig, lines: Sequence[str], family: Family) -> TrainedVocabulary:
    check_reachable(config.vocab_size, len(family.all_tokens) + BYTES + 1, "the special tokens and the 256 bytes")
    learner = _configure(HFTokenizer(models.BPE()), config)
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        show_progress=False,
        special_tokens=list(family.all_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    learner.train_from_iterator(lines, trainer=trainer, length=len(lines))
    model = json.loads(learner.to_str())["model"]
    learned = [token for token, _ in sorted(model["vocab"].items(), key=lambda item: item[1])]
    tokens = family.layout(learned)
    vocab = {token: index for index, token in enumerate(tokens)}
    merges = [tuple(merge) if isinstance(merge, list) else tuple(merge.split(" ")) for merge in model["merges"]]
    backend = _configure(HFTokenizer(models.BPE(vocab=vocab, merges=merges)), config)

    def write_native(directory: Path) -> List[str]:
        write_text(directory / "vocab.json", json.dumps(vocab, ensure_ascii=False) + "\n")
        write_text(directory / "merges.txt", "#version: 0.2\n" + "".join(f"{left} {right}\n" for left, right in merges))
        written = ["vocab.json", "merges.txt"]
        if family.name == "roberta":
            if config.fairseq_dict_counts:
                written.append(write_fairseq_dict(directory, backend, family, lines))
            else:
                written.append(write_dict_rows(directory, tokens, np.full(len(tokens), 100, dtype=np.int64), family))
        return written

    return TrainedVocabulary(backend, write_native)
