"""WordPiece (BERT) vocabularies with `tokenizers`: cased or uncased, accents kept unless asked.

The BERT normalizer of `tokenizers` strips accents whenever it lowercases; it is
not used. The saved pipeline is workbench's explicit normalizer (see
``workbench.text.normalize``), BERT's pre-tokenizer (whitespace and punctuation,
so l'hôpital -> l ' hôpital) and a WordPiece model with "##" continuations.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import List

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from workbench.artifacts.atomic import write_text
from workbench.tokenization.assemble import (
    NormalizedSample,
    TrainedVocabulary,
    check_reachable,
    kept_alphabet,
    normalization_spec,
    normalizer_for,
)
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.families import Family

PREFIX = "##"


def complete_alphabet(learned: List[str], family: Family) -> List[str]:
    """Give every kept character both forms, word-initial ``c`` and continuation ``##c``.

    The trainer only creates ``##É`` if É was seen inside a word, so "ÉTÉ" would become [UNK] as a whole
    (WordPiece cannot fall back to characters). Google's BERT vocabularies hold both forms of every
    character; here the missing forms replace the last-learned (least frequent) merged tokens, so the
    vocabulary keeps its configured size.
    """
    specials = set(family.all_tokens)
    present = set(learned)
    chars = {token for token in learned if len(token) == 1 and token not in specials}
    chars |= {token[len(PREFIX) :] for token in learned if token.startswith(PREFIX) and len(token) == len(PREFIX) + 1}
    missing = sorted(
        form for char in chars for form in (char, PREFIX + char) if form not in present
    )
    if not missing:
        return learned
    removable = [
        index
        for index in range(len(learned) - 1, -1, -1)
        if learned[index] not in specials and len(learned[index].removeprefix(PREFIX)) > 1
    ][: len(missing)]
    if len(removable) < len(missing):
        return learned + missing  # too few merged tokens to trade: the size check reports it
    dropped = set(removable)
    return [token for index, token in enumerate(learned) if index not in dropped] + missing
MAX_INPUT_CHARS_PER_WORD = 100  # BERT's limit: longer words become [UNK]


def train_wordpiece(config: TokenizerConfig, lines: List[str], family: Family) -> TrainedVocabulary:
    check_reachable(config.vocab_size, len(family.all_tokens) + 1, "the special tokens")
    normalizer = normalizer_for(config)
    # The sample is normalized once (Python mirror of the saved normalizer, exact: see normalize_lines) into a
    # file (the list of raw lines is emptied, see NormalizedSample); the trainer reads the normalized lines
    # and has no normalizer, so its pre-tokenizer sees exactly what it would see after the normalizer,
    # without the cost of running the normalizer's regexes on every line again.
    backend = HFTokenizer(models.WordPiece(unk_token=family.unk, continuing_subword_prefix=PREFIX))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix=PREFIX)
    with tempfile.TemporaryDirectory(prefix="workbench-wordpiece-") as folder:
        sample = NormalizedSample(lines, normalization_spec(config), Path(folder) / "sample.txt", count_characters=True)
        alphabet = kept_alphabet(sample.characters, config.character_coverage)
        limit_alphabet = len(alphabet)
        # The trainer gives "##c" symbols ids in hash-map order, which breaks ties between equally frequent
        # merges differently from run to run. Declaring every "##c" up front (sorted) fixes their ids: same
        # inputs and seed, same vocabulary. They would be added anyway (see complete_alphabet).
        continuations = sorted(PREFIX + char for char in alphabet)
        trainer = trainers.WordPieceTrainer(
            vocab_size=config.vocab_size,
            min_frequency=config.min_frequency,
            show_progress=False,
            special_tokens=[*family.all_tokens, *continuations],
            limit_alphabet=limit_alphabet or None,
            continuing_subword_prefix=PREFIX,
        )
        # The trainer applies the pre-tokenizer itself, exactly as encoding will after the normalizer.
        backend.train_from_iterator(sample.iter_blocks(), trainer=trainer, length=sample.lines)
    trained = backend.get_vocab(with_added_tokens=False)
    learned = complete_alphabet([token for token, _ in sorted(trained.items(), key=lambda item: item[1])], family)
    vocab = {token: index for index, token in enumerate(family.layout(learned))}
    final = HFTokenizer(
        models.WordPiece(
            vocab=vocab,
            unk_token=family.unk,
            continuing_subword_prefix=PREFIX,
            max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD,
        )
    )
    final.normalizer = normalizer
    final.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    final.decoder = decoders.WordPiece(prefix=PREFIX)
    tokens = list(vocab)

    def write_native(directory: Path) -> List[str]:
        write_text(directory / "vocab.txt", "".join(f"{token}\n" for token in tokens))  # BERT vocab.txt: line = id
        return ["vocab.txt"]

    return TrainedVocabulary(final, write_native, extra_meta={"alphabet_size": limit_alphabet})

