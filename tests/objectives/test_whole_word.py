"""Whole-word masking masks whole words under the WordPiece, SentencePiece, byte-level and Moses+BPE conventions."""

from __future__ import annotations

import pytest
import torch

from workbench.objectives.masking import IGNORE_INDEX, generator_for, mask_tokens
from workbench.objectives.words import WordBoundaries, word_starts_from_tokens

SPECIAL_TOKENS = ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]

SENTENCES = {
    "wordpiece": (["[CLS]", "le", "chat", "##on", "##s", "dort", "profond", "##ément", "[SEP]", "x", "##y", "[SEP]"],
                  [1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1]),
    "sentencepiece_unigram": (["[CLS]", "▁le", "▁chat", "ons", "s", "▁dort", "▁profond", "ément", "[SEP]", "x", "▁y", "[SEP]"],
                              [1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1]),
    "byte_bpe": (["[CLS]", "le", "Ġchat", "ons", "Ġdort", "Ġprofond", "ément", "[SEP]", "[SEP]", "x", "y", "[SEP]"],
                 [1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1]),
    "moses_bpe": (["[CLS]", "le", "chat@@", "on@@", "s", "dort", "profond@@", "ément", "[SEP]", "x@@", "y", "[SEP]"],
                  [1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1]),
}


@pytest.mark.parametrize("convention", sorted(SENTENCES))
def test_word_starts_from_tokens(convention):
    tokens, expected = SENTENCES[convention]
    assert word_starts_from_tokens(tokens, convention, SPECIAL_TOKENS) == [bool(x) for x in expected]


def test_transformers_collator_is_wrong_for_sentencepiece_and_ours_is_right():
    tokens, expected = SENTENCES["sentencepiece_unigram"]
    # transformers' DataCollatorForWholeWordMask groups on "##": every SentencePiece piece becomes a word
    hf_style = [not t.startswith("##") for t in tokens]
    assert hf_style != [bool(x) for x in expected]
    assert word_starts_from_tokens(tokens, "sentencepiece_bpe", SPECIAL_TOKENS) == [bool(x) for x in expected]


def test_unknown_convention():
    with pytest.raises(ValueError, match="choose one of"):
        word_starts_from_tokens(["a"], "bpe")


@pytest.mark.parametrize("convention", sorted(SENTENCES))
def test_tensor_word_starts_match_token_version(convention):
    tokens, expected = SENTENCES[convention]
    vocab = list(dict.fromkeys(SPECIAL_TOKENS + tokens))
    boundaries = WordBoundaries.from_vocab(vocab, convention, special_ids=range(len(SPECIAL_TOKENS)))
    ids = torch.tensor([[vocab.index(t) for t in tokens]] * 3)
    assert boundaries.word_starts(ids)[1].tolist() == [bool(x) for x in expected]


def words_of(starts):
    words, current = [], []
    for i, s in enumerate(starts):
        if s and current:
            words.append(current)
            current = []
        current.append(i)
    words.append(current)
    return words


@pytest.mark.parametrize("convention", sorted(SENTENCES))
def test_whole_words_are_masked_together_at_the_right_rate(convention):
    tokens, expected = SENTENCES[convention]
    vocab = list(dict.fromkeys(SPECIAL_TOKENS + tokens))
    vocab += [f"extra{i}" for i in range(100)]
    special_ids = set(range(len(SPECIAL_TOKENS)))
    boundaries = WordBoundaries.from_vocab(vocab, convention, special_ids=special_ids)
    rows = 2000
    ids = torch.tensor([[vocab.index(t) for t in tokens]] * rows)
    starts = boundaries.word_starts(ids)
    masked, labels = mask_tokens(
        ids, vocab_size=len(vocab), special_ids=special_ids, mask_id=3, generator=generator_for(0, 0, 0),
        mlm_probability=0.3, word_starts=starts,
    )
    selected = labels != IGNORE_INDEX
    words = [w for w in words_of(expected) if tokens[w[0]] not in SPECIAL_TOKENS]
    multi = [w for w in words if len(w) > 1]
    assert multi, "the example must have multi-token words"
    for word in words:
        column = selected[:, word]
        # all tokens of a word share one decision
        assert (column.all(dim=1) | ~column.any(dim=1)).all()
        rate = float(column[:, 0].float().mean())
        assert abs(rate - 0.3) < 5 * (0.3 * 0.7 / rows) ** 0.5
    for i, token in enumerate(tokens):
        if token in SPECIAL_TOKENS:
            assert not selected[:, i].any()
    # 80/10/10 is decided per token inside masked words (Google BERT, transformers)
    as_mask = float((masked[selected] == 3).float().mean())
    assert abs(as_mask - 0.8) < 0.02


def test_a_word_never_spans_a_special_token():
    # continuation flags right after [SEP] still start a new word
    ids = torch.tensor([[1, 10, 11, 2, 12, 13, 2]])
    starts = torch.tensor([[True, True, False, True, False, False, True]])
    hits = 0
    for index in range(300):
        _, labels = mask_tokens(ids, vocab_size=20, special_ids={0, 1, 2, 3}, mask_id=3,
                                generator=generator_for(0, 0, index), mlm_probability=0.5, word_starts=starts)
        sel = (labels != IGNORE_INDEX)[0].tolist()
        assert sel[1] == sel[2] and sel[4] == sel[5]
        hits += sel[1] != sel[4]
    assert hits > 0  # the two words are drawn independently
