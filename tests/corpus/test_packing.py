"""Packing modes: exact layouts, boundaries, BERT NSP statistics, resumable state."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.corpus.packing import DocTokens, PackedBatch, SpecialLayout, make_packer

CLS, SEP = 2, 3


def _docs(seed: int, n_docs: int = 60, max_units: int = 12, max_len: int = 40) -> list[DocTokens]:
    """Documents of units whose ids are their positions in the corpus + 10 (unique, no special ids)."""
    rng = np.random.default_rng(seed)
    docs = []
    position = 10
    for d in range(n_docs):
        lengths = rng.integers(1, max_len, size=rng.integers(1, max_units))
        tokens = np.arange(position, position + int(lengths.sum()))
        position += len(tokens)
        bounds = np.concatenate(([0], np.cumsum(lengths)))
        docs.append(DocTokens(d, tokens.astype(np.int64), bounds.astype(np.int64)))
    return docs


def _run(mode: str, docs, max_seq_len=64, family="bert", short_seq_prob=0.1, seed=0, pool=1000):
    packer = make_packer(mode, SpecialLayout(CLS, SEP, family), max_seq_len, short_seq_prob, seed, pool)
    out = []
    for doc in docs:
        out.extend(packer.feed(doc))
    out.extend(packer.finish())
    return out


def _units(doc: DocTokens) -> list[np.ndarray]:
    return [doc.tokens[doc.bounds[i] : doc.bounds[i + 1]] for i in range(len(doc.bounds) - 1)]


def test_full_sentences_is_the_token_stream_with_a_separator_between_documents():
    docs = _docs(0)
    packed = _run("full_sentences", docs)
    assert all(len(p.ids) <= 64 and p.ids[0] == CLS and p.ids[-1] == SEP for p in packed)
    content = np.concatenate([p.ids[1:-1] for p in packed])
    # Between consecutive documents inside one sequence there is exactly one extra SEP; at a sequence
    # boundary none: so the content without SEPs is exactly all tokens in order.
    assert np.array_equal(content[content != SEP], np.concatenate([d.tokens for d in docs]))
    # Number of inner separators = number of document changes that fall inside a sequence.
    inner = sum(int((p.ids[1:-1] == SEP).sum()) for p in packed)
    assert 0 < inner < len(docs)


def test_full_sentences_never_cuts_a_sentence_that_fits():
    docs = _docs(1)
    packed = _run("full_sentences", docs, max_seq_len=64)
    # Rebuild the stream of (doc, sentence) spans and check each sentence shorter than the capacity
    # lies inside one sequence.
    sentence_edges = []  # cumulative positions (in the SEP-free token stream) where sentences end
    position = 0
    for doc in docs:
        for unit in _units(doc):
            position += len(unit)
            sentence_edges.append((position, len(unit)))
    sequence_ends = set(np.cumsum([int((p.ids[1:-1] != SEP).sum()) for p in packed]).tolist())
    starts = {0} | sequence_ends
    position = 0
    for end, length in sentence_edges:
        start = end - length
        if length <= 62:
            cut_inside = any(start < e < end for e in sequence_ends)
            assert not cut_inside, f"sentence [{start},{end}) was cut"
        position = end
    assert max(starts) == position


def test_doc_sentences_never_crosses_a_document():
    docs = _docs(2)
    packed = _run("doc_sentences", docs)
    assert all(SEP not in p.ids[1:-1] for p in packed)
    # Each document's tokens are a concatenation of consecutive sequences.
    content = [p.ids[1:-1] for p in packed]
    i = 0
    for doc in docs:
        got = []
        while sum(map(len, got)) < len(doc.tokens):
            got.append(content[i])
            i += 1
        assert np.array_equal(np.concatenate(got), doc.tokens)
    assert i == len(content)


def test_line_by_line_one_sequence_per_line_and_long_lines_cut_not_lost():
    docs = _docs(3, max_len=100)
    packed = _run("line_by_line", docs, max_seq_len=32)
    units = [u for d in docs for u in _units(d)]
    expected = []
    for unit in units:
        for start in range(0, len(unit), 30):
            expected.append(unit[start : start + 30])
    assert len(packed) == len(expected)
    for p, e in zip(packed, expected):
        assert p.ids[0] == CLS and p.ids[-1] == SEP and np.array_equal(p.ids[1:-1], e)


def test_stream_is_xlm_windows_over_separator_terminated_lines():
    docs = _docs(4)
    packed = _run("stream", docs, max_seq_len=50)
    stream = [SEP]
    for doc in docs:
        for unit in _units(doc):
            stream.extend(unit.tolist())
            stream.append(SEP)
    assert all(len(p.ids) == 50 for p in packed[:-1]) and 0 < len(packed[-1].ids) <= 50
    assert np.concatenate([p.ids for p in packed]).tolist() == stream


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_pair_layout_matches_tokenizer_build_inputs(family, bert_tokenizer, roberta_tokenizer):
    tokenizer = bert_tokenizer if family == "bert" else roberta_tokenizer
    layout = SpecialLayout(tokenizer.cls_id, tokenizer.sep_id, tokenizer.family)
    a, b = [11, 12, 13], [21, 22]
    ids, types = tokenizer.build_inputs(a, b)
    got, segment_start = layout.pair(np.array(a), np.array(b))
    assert got.tolist() == ids
    got_types = [1 if (layout.uses_token_types and i >= segment_start) else 0 for i in range(len(got))]
    assert got_types == types
    assert layout.single(np.array(a)).tolist() == tokenizer.build_inputs(a)[0]
    assert layout.pair_overhead == tokenizer.num_special_tokens(pair=True)


def test_sentence_pairs_bert_statistics_and_structure():
    docs = _docs(5, n_docs=400, max_units=20, max_len=30)
    packed = _run("sentence_pairs", docs, max_seq_len=128, short_seq_prob=0.1)
    labels = np.array([p.is_random_next for p in packed])
    n = len(labels)
    assert n > 1000
    # P(random) = 0.5 on chunks with >= 2 sentences and 1 for single-sentence chunks: slightly above 0.5.
    rate = labels.mean()
    assert 0.5 - 3 * np.sqrt(0.25 / n) < rate < 0.62
    lengths = np.array([len(p.ids) for p in packed])
    assert lengths.max() <= 128
    # short_seq_prob: some documents use a short target; the share of very short pairs is well above 0
    assert (lengths < 64).mean() > 0.02
    # ids are corpus positions: segments are contiguous runs; a true next B follows A in the same
    # document (truncation may remove a few tokens between them); a random B comes from another document
    doc_of = np.zeros(int(max(d.tokens[-1] for d in docs)) + 1, dtype=np.int64)
    for d in docs:
        doc_of[d.tokens] = d.index
    for p in packed:
        a = p.ids[1 : p.segment_start - 1]
        b = p.ids[p.segment_start : -1]
        assert len(a) >= 1 and len(b) >= 1 and p.ids[p.segment_start - 1] == SEP
        assert np.all(np.diff(a) == 1) and np.all(np.diff(b) == 1)
        if p.is_random_next == 0:
            assert doc_of[a[0]] == doc_of[b[-1]] and b[0] > a[-1]
        else:
            assert doc_of[a[0]] != doc_of[b[0]]


def test_short_seq_prob_zero_fills_to_target():
    docs = _docs(6, n_docs=200, max_units=30, max_len=20)
    long_only = np.array([len(p.ids) for p in _run("sentence_pairs", docs, max_seq_len=64, short_seq_prob=0.0)])
    with_short = np.array([len(p.ids) for p in _run("sentence_pairs", docs, max_seq_len=64, short_seq_prob=0.5)])
    assert with_short.mean() < long_only.mean() - 3


@pytest.mark.parametrize("mode", ["full_sentences", "doc_sentences", "line_by_line", "stream", "sentence_pairs"])
def test_packer_state_restores_exactly(mode):
    docs = _docs(7, n_docs=80)
    layout = SpecialLayout(CLS, SEP, "bert")
    straight = _run(mode, docs)
    first = make_packer(mode, layout, 64, 0.1, 0, 1000)
    out = []
    for doc in docs[:37]:
        out.extend(first.feed(doc))
    state = first.state()
    second = make_packer(mode, layout, 64, 0.1, 0, 1000)
    second.restore(state)
    for doc in docs[37:]:
        out.extend(second.feed(doc))
    out.extend(second.finish())
    assert len(out) == len(straight)
    for x, y in zip(out, straight):
        assert np.array_equal(x.ids, y.ids) and x.is_random_next == y.is_random_next and x.segment_start == y.segment_start


@pytest.mark.parametrize("mode", ["full_sentences", "doc_sentences", "line_by_line", "stream", "sentence_pairs"])
def test_chunk_interface_gives_the_sequences_of_feed(mode):
    """prepare feeds documents as unit ranges of a chunk (feed_units) and takes the sequences in batches:
    same sequences, in the same order, as feed() document by document; the returned counts are their tokens."""
    rng = np.random.default_rng(8)
    docs = _docs(8, n_docs=150, max_units=10, max_len=70)
    # documents with empty units and empty documents, as prepare never sends but the packers must accept
    docs[3] = DocTokens(3, docs[3].tokens, np.array([0, 0, *docs[3].bounds[1:].tolist(), docs[3].bounds[-1]]))
    docs[4] = DocTokens(4, docs[4].tokens[:0], np.array([0, 0]))
    layout = SpecialLayout(CLS, SEP, "roberta")
    straight = _run(mode, docs, max_seq_len=64, family="roberta")
    packer = make_packer(mode, layout, 64, 0.1, 0, 1000)
    batches, i = [], 0
    while i < len(docs):
        group = docs[i : i + int(rng.integers(1, 12))]  # one chunk: its documents' tokens end to end
        i += len(group)
        tokens = np.concatenate([d.tokens for d in group])
        bounds, doc_units, offset = [0], [0], 0
        for d in group:
            bounds.extend((np.asarray(d.bounds[1:]) + offset).tolist())
            offset += len(d.tokens)
            doc_units.append(len(bounds) - 1)
        for d, first, end in zip(group, doc_units[:-1], doc_units[1:]):
            before = packer.buffered_tokens
            emitted = packer.feed_units(tokens, bounds, first, end, d.index)
            assert emitted == packer.buffered_tokens - before
        if rng.random() < 0.5:  # taken now or left for the next chunk: the order is kept either way
            batches.append(packer.take())
    batches.append(packer.take())
    out = [p for batch in batches for p in batch.to_packed()] + packer.finish()
    assert len(out) == len(straight) > 20
    for x, y in zip(out, straight):
        assert x.ids.tolist() == y.ids.tolist()
        assert (x.is_random_next, x.segment_start) == (y.is_random_next, y.segment_start)
    whole = PackedBatch.from_packed(straight)
    assert whole.lengths.tolist() == [len(p.ids) for p in straight] and len(whole.ids) == sum(whole.lengths)
    assert [p.ids.tolist() for p in whole.to_packed()] == [p.ids.tolist() for p in straight]
