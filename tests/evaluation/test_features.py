"""Featurization: QA windows and offsets round-trip on French text, first-sub-word token labels, truncation,
dynamic padding and length-grouped batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.examples import TaggedSentence, TextExample
from workbench.evaluation.features import IGNORE_INDEX, featurize
from workbench.evaluation.features.batching import length_grouped_batches, shuffled_batches, sorted_batches
from workbench.evaluation.features.collate import collate
from workbench.evaluation.features.predictions import qa_predictions, token_predictions
from workbench.evaluation.readers import read_split


@pytest.fixture(scope="module")
def piaf(shared_data):
    task = TaskConfig(name="piaf", kind="extractive_qa", metric="squad", format="squad_json", train="x", dev="x",
                      max_seq_len=128, doc_stride=32, max_question_len=32)
    return task, read_split(task, str(shared_data / "piaf_fr/piaf-v1.0.json"))[:400]


@pytest.mark.parametrize("tokenizer_name", ["wordpiece", "french_bpe"])
def test_qa_offsets_round_trip_french_answers(piaf, tokenizer_name, request):
    tokenizer = request.getfixturevalue(tokenizer_name)
    task, examples = piaf
    features = featurize(task, examples, tokenizer, [])
    assert all(len(f) <= task.max_seq_len for f in features)
    assert len(features) > len(examples)  # long contexts give several windows
    exact = total = 0
    for feature in features:
        if feature.start_position == 0:
            continue
        example = examples[feature.example_index]
        span = example.context[feature.offsets[feature.start_position][0] : feature.offsets[feature.end_position][1]]
        gold = example.answers[0].text.strip()
        total += 1
        exact += span == gold
        assert gold in span  # a gold boundary inside a sub-word widens the span, never cuts the answer
    assert exact / total > 0.99
    # oracle logits at the labeled positions: the n-best decoding returns the original characters (accents, ’, «»)
    starts, ends = [], []
    for feature in features:
        start, end = np.full(len(feature), -5.0), np.full(len(feature), -5.0)
        if feature.start_position:
            start[feature.start_position], end[feature.end_position] = 5.0, 5.0
        starts.append(start)
        ends.append(end)
    answers = qa_predictions(examples, features, starts, ends, n_best=20, max_answer_len=400)
    recovered = sum(answer == example.answers[0].text.strip() for answer, example in zip(answers, examples))
    assert recovered / len(examples) > 0.99
    assert any(any(c in answer for c in "éèàçô’«") for answer in answers)


def test_qa_windows_cover_the_context_with_the_configured_overlap(piaf, french_bpe):
    task, examples = piaf
    features = featurize(task, examples, french_bpe, [])
    by_example = {}
    for feature in features:
        by_example.setdefault(feature.example_index, []).append([o for o in feature.offsets if o is not None])
    for index, windows in by_example.items():
        context_tokens = french_bpe.backend.encode(examples[index].context, add_special_tokens=False)
        assert sum(len(w) for w in windows) - task.doc_stride * (len(windows) - 1) == len(context_tokens.ids)
        for left, right in zip(windows, windows[1:]):
            assert left[-task.doc_stride:] == right[: task.doc_stride]


def test_qa_prediction_respects_max_answer_length_and_context(piaf, wordpiece):
    task, examples = piaf
    features = featurize(task, examples[:1], wordpiece, [])
    feature = features[0]
    start, end = np.zeros(len(feature)), np.zeros(len(feature))
    start[0] = end[0] = 100.0  # CLS and question tokens are never answers
    first = next(i for i, o in enumerate(feature.offsets) if o is not None)
    start[first], end[first + 50] = 10.0, 10.0  # too long a span
    end[first + 2] = 9.0
    answer = qa_predictions(examples[:1], features[:1], [start], [end], n_best=20, max_answer_len=30)[0]
    context = examples[0].context
    assert answer == context[feature.offsets[first][0] : feature.offsets[first + 2][1]]


def test_token_labels_on_first_subword_and_long_sentences_split_at_words(wordpiece):
    words = ("Jean-Pierre", "Dupont", "habite", "à", "Saint-Étienne", "depuis", "l'été", "2019", ".") * 4
    tags = ("B-PER", "I-PER", "O", "O", "B-LOC", "O", "O", "O", "O") * 4
    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    task = TaskConfig(name="ner", kind="token_classification", metric="entity_f1", format="conll", train="x", dev="x", max_seq_len=24)
    examples = [TaggedSentence(words, tags)]
    features = featurize(task, examples, wordpiece, labels)
    assert len(features) > 1 and all(len(f) <= 24 for f in features)
    scored_words = [w for f in features for w in f.word_index if w >= 0]
    assert scored_words == list(range(len(words)))  # each word exactly once, in order, on its first sub-word
    for feature in features:
        assert feature.token_labels[0] == feature.token_labels[-1] == IGNORE_INDEX  # special tokens
        for label, word in zip(feature.token_labels, feature.word_index):
            assert (label == IGNORE_INDEX) == (word < 0)
            if word >= 0:
                assert labels[label] == tags[word]
    encoding = wordpiece.encode_words(words)
    assert len(encoding.ids) > len(words)  # there are non-first sub-words, and they were ignored
    oracle = []
    for feature in features:
        logits = np.zeros((len(feature), len(labels)))
        for position, label in enumerate(feature.token_labels):
            logits[position, label if label >= 0 else 0] = 1.0
        oracle.append(logits)
    assert token_predictions(examples, features, oracle, labels) == [list(tags)]


def test_pair_truncation_is_longest_first_and_adds_family_specials(wordpiece, french_bpe):
    task = TaskConfig(name="nli", kind="pair_classification", format="tsv", pair_column="p", train="x", dev="x", max_seq_len=16)
    example = TextExample("un " * 30, "deux trois", "entailment")
    (feature,) = featurize(task, [example], wordpiece, ["contradiction", "entailment"])
    assert len(feature) == 16 and feature.label == 1
    assert feature.input_ids[0] == wordpiece.cls_id and feature.input_ids.count(wordpiece.sep_id) == 2
    second = wordpiece.encode("deux trois")
    assert 1 < len(second) < 6  # the short text is kept whole, the long one loses the rest
    assert feature.input_ids[-len(second) - 1 : -1] == second
    assert feature.token_type_ids == [0] * (15 - len(second)) + [1] * (len(second) + 1)
    (roberta,) = featurize(task, [example], french_bpe, ["contradiction", "entailment"])
    assert len(roberta) == 16 and roberta.input_ids.count(french_bpe.sep_id) == 3 and set(roberta.token_type_ids) == {0}


def test_collate_pads_dynamically(wordpiece):
    task = TaskConfig(name="ner", kind="token_classification", metric="entity_f1", format="conll", train="x", dev="x")
    examples = [TaggedSentence(("Paris",), ("B-LOC",)), TaggedSentence(("Il", "habite", "à", "Lyon", "."), ("O", "O", "O", "B-LOC", "O"))]
    features = featurize(task, examples, wordpiece, ["O", "B-LOC", "I-LOC"])
    batch = collate(features, wordpiece.pad_id, pad_to_multiple_of=8)
    assert batch["input_ids"].shape == (2, 8)
    assert batch["attention_mask"].sum(1).tolist() == [len(f) for f in features]
    assert (batch["input_ids"][batch["attention_mask"] == 0] == wordpiece.pad_id).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    assert batch["labels"].dtype == torch.long


def test_length_grouped_batches_partition_reproduce_and_cut_padding(shared_data, wordpiece):
    task = TaskConfig(name="sst2", format="tsv", text_column="sentence", train="x", dev="x")
    examples = read_split(task, str(shared_data / "sst2_en/dev.tsv"))
    lengths = [len(ids) for ids in wordpiece.encode_batch([e.text for e in examples])]
    grouped = length_grouped_batches(lengths, 16, seed=1, epoch=0, mega=8)
    assert sorted(i for b in grouped for i in b) == list(range(len(lengths)))
    assert grouped == length_grouped_batches(lengths, 16, seed=1, epoch=0, mega=8)
    assert grouped != length_grouped_batches(lengths, 16, seed=1, epoch=1, mega=8)
    assert max(lengths[i] for i in grouped[0]) == max(lengths)  # the memory peak comes first

    def padding(batches):
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches) / sum(lengths)

    random_padding = np.mean([padding(shuffled_batches(len(lengths), 16, seed, 0)) for seed in range(5)])
    grouped_padding = np.mean([padding(length_grouped_batches(lengths, 16, seed, 0, mega=8)) for seed in range(5)])
    assert grouped_padding < 0.25 * random_padding
    # order still random: batch composition differs between seeds
    assert length_grouped_batches(lengths, 16, seed=2, epoch=0, mega=8) != grouped
    ordered = sorted_batches(lengths, 16)
    assert [lengths[b[0]] for b in ordered] == sorted((lengths[b[0]] for b in ordered), reverse=True)
