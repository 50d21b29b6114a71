"""Each step of ``prepare`` on its own: clean, tokenize, deduplicate, pack, write, and the resume bookkeeping.

The whole pipeline (byte-identical shards whatever the workers, exact resume after a kill) is tested in
test_prepare.py and test_resume_state.py; the read step in test_reading.py. Here the steps get small
hand-made inputs whose expected outputs are counted by hand.
"""

from __future__ import annotations

import logging
from typing import List

import numpy as np
import pytest

from workbench.corpus.cleaning import CleaningRules, clean_document, document_hash, is_validation
from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
from workbench.corpus.dedup import HashTable64
from workbench.corpus.deduplicate import MarkedChunk, mark_documents
from workbench.corpus.pack_splits import Consumed, InputEnd, Sequences, SplitPackers
from workbench.corpus.packing import DocTokens, SpecialLayout, make_packer
from workbench.corpus.prepare import PrepareError, prepare_corpus
from workbench.corpus.progress import PROGRESS_FILE, STATE_FILE, Progress, check_state, resume
from workbench.corpus.resume_state import read_state
from workbench.corpus.sentences import split_sentences
from workbench.corpus.shard_parts import ShardParts, write_parts
from workbench.corpus.tokenize_docs import ChunkResult, RawChunk, clean_chunk, tokenize_chunk
from workbench.corpus.word_cache import UnitEncoder

LAYOUT = SpecialLayout(cls_id=2, sep_id=3, family="bert")


def _chunk(docs: List[List[List[int]]], hashes: List[int], first_index: int = 0, langs=None, sources=None) -> ChunkResult:
    """A tokenized chunk made by hand: ``docs[i]`` is document i's units, each a list of token ids."""
    n = len(docs)
    units = [unit for doc in docs for unit in doc]
    unit_bounds = np.zeros(len(units) + 1, dtype=np.int64)
    np.cumsum([len(u) for u in units], out=unit_bounds[1:])
    doc_units = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(d) for d in docs], out=doc_units[1:])
    return ChunkResult(
        first_index=first_index,
        lang_ids=np.asarray(langs if langs is not None else [0] * n, dtype=np.int64),
        source_ids=np.asarray(sources if sources is not None else [0] * n, dtype=np.int64),
        hashes=np.asarray(hashes, dtype=np.uint64),
        lines_kept=np.asarray([len(d) for d in docs], dtype=np.int64),
        doc_units=doc_units,
        unit_bounds=unit_bounds,
        tokens=np.asarray([t for u in units for t in u], dtype=np.int64),
        stats={},
    )


# ------------------------------------------------------------------------------------------------ clean
def test_clean_step_drops_lines_by_reason_and_hashes_the_kept_lines():
    rules = CleaningRules(normalization="NFC", min_chars=4, max_chars=30, min_alpha_fraction=0.5, skip_undecodable=True)
    texts = [
        "Une ligne correcte.\nab\n12345 6789 !!",  # kept, too short, low alpha
        "x" * 31 + "\n\n  Un  texte\u00a0ici ",  # too long, blank separator (not counted), kept after cleaning
        "mot \ufffd cassé",  # undecodable
        "\u200b",  # nothing left after cleaning
        "Une ligne correcte.",  # the same content as document 0's kept line
    ]
    raw = RawChunk(7, texts, np.array([0, 1, 0, 1, 0]), np.array([0, 0, 1, 1, 2]), np.array([0, 0, 2, 0, 0]))
    clean = clean_chunk(raw, rules)
    assert clean.first_index == 7 and clean.lang_ids.tolist() == [0, 1, 0, 1, 0] and clean.source_ids.tolist() == [0, 0, 1, 1, 2]
    assert clean.lines == ["Une ligne correcte.", "Un texte ici", "Une ligne correcte."]
    assert clean.line_doc.tolist() == [0, 1, 4] and clean.lines_kept.tolist() == [1, 1, 0, 0, 1]
    assert clean.stats == {
        0: {"line_too_short": 1, "line_low_alpha": 1},
        1: {"line_too_long": 1},
        2: {"undecodable_lines": 2, "line_undecodable": 1},
        3: {"line_empty": 1},
    }
    for position, text in enumerate(texts):  # the document-by-document reference
        lines = clean_document(text, rules, {})
        if lines:
            assert int(clean.hashes[position]) == document_hash(lines)
        else:
            assert clean.hashes[position] == 0
    assert clean.hashes[0] == clean.hashes[4]


# ------------------------------------------------------------------------------------------------ tokenize
@pytest.mark.parametrize("sentence_units", [True, False])
def test_tokenize_step_encodes_each_unit_of_each_document(bert_tokenizer, sentence_units):
    rules = CleaningRules(normalization="NFC", min_chars=1, max_chars=1000, min_alpha_fraction=0.0, skip_undecodable=False)
    texts = ["Il pleut. Le vent souffle fort !\nDeux lignes ici.", "", "« Non », dit-il. Puis il partit."]
    clean = clean_chunk(RawChunk(0, texts, np.zeros(3, np.int64), np.zeros(3, np.int64), np.zeros(3, np.int64)), rules)
    result = tokenize_chunk(clean, sentence_units, UnitEncoder(bert_tokenizer))
    assert result.hashes is clean.hashes and result.lines_kept.tolist() == [2, 0, 1]
    expected_units = []
    for text in texts:
        lines = clean_document(text, rules, {}) or []
        expected_units.append([s for line in lines for s in split_sentences(line)] if sentence_units else lines)
    assert [len(u) for u in expected_units] == ([3, 0, 2] if sentence_units else [2, 0, 1])
    for position, units in enumerate(expected_units):
        first, end = result.doc_units[position], result.doc_units[position + 1]
        bounds = result.unit_bounds[first : end + 1].tolist()
        got = [result.tokens[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])]
        assert got == bert_tokenizer.encode_batch(units)
    assert result.doc_tokens().tolist() == [sum(map(len, bert_tokenizer.encode_batch(u))) for u in expected_units]


# ------------------------------------------------------------------------------------------------ deduplicate
def test_deduplicate_step_marks_empty_duplicate_kept_and_valid_documents():
    docs = [[[5, 6]], [[7]], [], [[5, 6]], [[8, 9]], [[]], [[7]], [[10]]]
    hashes = [11, 12, 0, 11, 13, 14, 12, 15]  # doc 3 and 6 repeat 0 and 1; doc 2 has no line, doc 5 no token
    seen = HashTable64.from_array([15])  # doc 7's content was kept in an earlier chunk
    before = seen.to_array()
    marked = mark_documents(_chunk(docs, hashes), seen, dedup=True, validation_fraction=0.5)
    assert marked.empty.tolist() == [False, False, True, False, False, True, False, False]
    assert marked.duplicate.tolist() == [False, False, False, True, False, False, True, True]
    assert marked.kept.tolist() == [True, True, False, False, True, False, False, False]
    assert marked.valid.tolist() == [is_validation(h, 0.5) for h in hashes]
    assert marked.doc_tokens.tolist() == [2, 1, 0, 2, 2, 0, 1, 1] and marked.remember
    assert seen.to_array().tolist() == before.tolist()  # the table is read, not changed (Progress.account adds)

    off = mark_documents(_chunk(docs, hashes), seen, dedup=False, validation_fraction=0.0)
    assert off.kept.tolist() == (~off.empty).tolist() and not off.duplicate.any() and not off.valid.any() and not off.remember


# ------------------------------------------------------------------------------------------------ pack
def _marked(chunk: ChunkResult, valid=None) -> MarkedChunk:
    n = len(chunk)
    empty = chunk.doc_tokens() == 0
    return MarkedChunk(chunk, empty, np.zeros(n, bool), ~empty, np.asarray(valid if valid is not None else [False] * n), chunk.doc_tokens(), True)


def test_pack_step_hands_over_sequences_in_document_order_and_closes_parts_where_a_shard_fills():
    packing = PackingConfig(mode="line_by_line", max_seq_len=8, shard_tokens=12)
    packers = SplitPackers(packing, LAYOUT, languages=2, seed=0)
    # line_by_line: one sequence per unit, [CLS] unit [SEP]: 3, 4, 5, 4 (valid), 5 (lang 1), 3 tokens
    docs = [[[10]], [[11, 12]], [[13, 14, 15]], [[16, 17]], [[18, 19, 20]], [[21]]]
    chunk = _chunk(docs, hashes=range(1, 7), first_index=40, langs=[0, 0, 0, 0, 1, 0])
    events = list(packers.pack([_marked(chunk, valid=[False, False, False, True, False, False])]))
    kinds = [type(e).__name__ for e in events]
    # train: 3 + 4 + 5 = 12 tokens after document 2: the part closes there; then valid 4, train lang 1 5,
    # train lang 0 3 (lang 1's sequence is handed over when lang 0 packs into train again), end of chunk
    # (train, then valid), end of input
    assert kinds == ["Sequences", "Consumed", "Sequences", "Sequences", "Sequences", "Consumed", "InputEnd"]
    first = events[0]
    assert (first.split, first.lang, first.batch.lengths.tolist()) == ("train", 0, [3, 4, 5])
    assert first.batch.ids.tolist() == [2, 10, 3, 2, 11, 12, 3, 2, 13, 14, 15, 3]
    assert (events[1].start, events[1].end, events[1].part_full) == (0, 3, True)
    handed = [(e.split, e.lang, e.batch.lengths.tolist()) for e in events[2:5]]
    assert handed == [("train", 1, [5]), ("train", 0, [3]), ("valid", 0, [4])]
    assert (events[5].start, events[5].end, events[5].part_full) == (3, 6, False)
    assert isinstance(events[6], InputEnd) and packers.pending_tokens == {"train": 8, "valid": 4}


def test_pack_step_gives_the_packers_own_sequences():
    """Whatever the chunking, the sequences are those of one packer fed document by document."""
    rng = np.random.default_rng(0)
    docs = [[list(rng.integers(10, 99, rng.integers(1, 9))) for _ in range(rng.integers(1, 4))] for _ in range(60)]
    packing = PackingConfig(mode="full_sentences", max_seq_len=16, shard_tokens=50)
    reference = make_packer("full_sentences", LAYOUT, 16, 0.1, 0, 10)
    expected = []
    tokens = np.asarray([t for d in docs for u in d for t in u], dtype=np.int64)
    start = 0
    for index, doc in enumerate(docs):
        bounds = np.cumsum([start] + [len(u) for u in doc]).tolist()
        expected += [p.ids.tolist() for p in reference.feed(DocTokens(index, tokens, bounds))]
        start = bounds[-1]
    expected += [p.ids.tolist() for p in reference.finish()]
    packers = SplitPackers(packing, LAYOUT, languages=1, seed=0)
    chunks = [_marked(_chunk(docs[a : a + 25], hashes=range(a + 1, a + 26)[: len(docs[a : a + 25])], first_index=a)) for a in (0, 25, 50)]
    got, part_tokens, tokens_since = [], [], 0
    for event in packers.pack(chunks):
        if isinstance(event, Sequences):
            ends = np.cumsum(event.batch.lengths).tolist()
            got += [event.batch.ids[a:b].tolist() for a, b in zip([0] + ends[:-1], ends)]
            tokens_since += int(event.batch.lengths.sum())
        elif isinstance(event, Consumed) and event.part_full:
            part_tokens.append(tokens_since)
            tokens_since = 0
    assert got == expected
    assert len(part_tokens) >= 3 and all(50 <= t < 50 + 2 * 16 for t in part_tokens)  # a part closes once it holds 50


# ------------------------------------------------------------------------------------------------ write
def test_write_step_writes_parts_accounts_documents_and_commits_after_each_part(tmp_path):
    packing = PackingConfig(mode="line_by_line", max_seq_len=8, shard_tokens=7)
    packers = SplitPackers(packing, LAYOUT, languages=1, seed=0)
    docs = [[[10, 11]], [[12]], [[10, 11]], [[13, 14, 15]], []]
    chunk = _chunk(docs, hashes=[1, 2, 1, 3, 0], first_index=100, sources=[0, 1, 0, 1, 1])
    chunk.stats[1] = {"line_too_short": 2}
    seen = HashTable64()
    marked = mark_documents(chunk, seen, dedup=True, validation_fraction=0.0)
    progress, commits = Progress(), []
    progress.docs_consumed = 100
    parts = ShardParts(tmp_path, np.dtype(np.uint16), [])
    consumed = list(write_parts(packers.pack([marked]), parts, progress, lambda: commits.append((progress.part, progress.docs_consumed))))
    # sequences 4, 3 (part 0 full at document 1), document 2 a duplicate, 5 (document 3), document 4 empty:
    # part 1 closes at the end of the input
    assert consumed == [102, 105] and commits == [(1, 102), (2, 105)]
    assert [(r["shard"], r["sequences"], r["tokens"]) for r in progress.records["train"]] == [(0, 2, 7), (1, 1, 5)]
    assert progress.records["valid"] == []
    assert np.fromfile(tmp_path / "train.0.tokens", dtype=np.uint16).tolist() == [2, 10, 11, 3, 2, 12, 3]
    assert np.load(tmp_path / "train.1.index.npy").tolist() == [0, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.0.index.npy", "train.0.tokens", "train.1.index.npy", "train.1.tokens"]
    assert dict(progress.counts) == {"lines_kept": 4, "documents_read": 5, "line_too_short": 2, "documents_kept": 3,
                                     "document_duplicate": 1, "document_empty": 1}
    assert progress.split_counts["train"]["documents"] == 3 and progress.source_tokens == {0: 2, 1: 4}
    assert progress.lang_sequences["train"] == {0: 3} and progress.seen.to_array().tolist() == [1, 2, 3]


def test_write_step_removes_the_open_part_on_error_and_keeps_finished_ones(tmp_path):
    packing = PackingConfig(mode="line_by_line", max_seq_len=8, shard_tokens=4)
    packers = SplitPackers(packing, LAYOUT, languages=1, seed=0)
    chunk = _chunk([[[10, 11]], [[12, 13]]], hashes=[1, 2])

    def failing():
        yield _marked(chunk)
        raise OSError("disk full")

    progress = Progress()
    with pytest.raises(OSError, match="disk full"):
        for _ in write_parts(packers.pack(failing()), ShardParts(tmp_path, np.dtype(np.uint16), []), progress, lambda: None):
            pass
    assert progress.part == 2 and sorted(p.name for p in tmp_path.iterdir()) == [
        "train.0.index.npy", "train.0.tokens", "train.1.index.npy", "train.1.tokens"]  # no .tmp left


# ------------------------------------------------------------------------------------------------ progress
def _plain(value):
    """A state with its arrays as (dtype, list): comparable with ==."""
    if isinstance(value, np.ndarray):
        return (value.dtype.name, value.tolist())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_progress_state_round_trips_and_resume_deletes_what_it_does_not_claim(tmp_path):
    packing = PackingConfig(mode="sentence_pairs", max_seq_len=16, shard_tokens=20, random_next_pool=50)
    packers = SplitPackers(packing, LAYOUT, languages=2, seed=3)
    docs = [[[10, 11, 12], [13, 14]], [[15, 16], [17]], [[18, 19, 20, 21], [22, 23], [24]]]
    marked = mark_documents(_chunk(docs, hashes=[5, 6, 7], langs=[0, 1, 0]), HashTable64(), dedup=True, validation_fraction=0.0)
    progress = Progress()
    events = packers.pack([marked])
    list(write_parts(events, ShardParts(tmp_path, np.dtype(np.uint16), ["lang", "nsp", "types"]), progress,
                     lambda: progress.commit(tmp_path, "abc", packers.packers)))
    saved = progress.state("abc", packers.packers)
    state = read_state(tmp_path / STATE_FILE)
    check_state(state, tmp_path / STATE_FILE, languages=2, sources=1, packers=packers.packers)
    (tmp_path / "train.9.tokens").write_bytes(b"left by a killed run")
    (tmp_path / ".train.9.tokens.tmp").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not ours")
    fresh = SplitPackers(packing, LAYOUT, languages=2, seed=3)
    restored = resume(tmp_path, "abc", overwrite=False, languages=2, sources=1, packers=fresh.packers)
    again = restored.state("abc", fresh.packers)
    assert _plain(again) == _plain(saved) and saved["packers"]["train:0"]["pool"]  # pools of arrays too
    assert again["seen"].tolist() == [5, 6, 7] and restored.docs_consumed == 3 and restored.part == progress.part
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "train.9.tokens" not in names and ".train.9.tokens.tmp" not in names and "notes.txt" in names
    assert {STATE_FILE, PROGRESS_FILE} <= set(names)
    with pytest.raises(PrepareError, match="packers does not have the packers \\['train:0', 'valid:0'\\]"):
        check_state(state, tmp_path / STATE_FILE, languages=2, sources=1, packers=[("train", 0), ("valid", 0)])
    other = resume(tmp_path, "another config", overwrite=False, languages=2, sources=1, packers=fresh.packers)
    assert other.part == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # started afresh


def test_a_chunk_reaching_deduplicate_before_the_earlier_documents_are_accounted_is_refused():
    progress = Progress()
    progress.docs_consumed = 10
    progress.expect(10)
    with pytest.raises(RuntimeError, match="chunk at document 12 .* 10 documents are accounted"):
        progress.expect(12)


# ------------------------------------------------------------------------------------------------ pipeline
def test_the_log_names_the_steps_in_order(tmp_path, bert_tokenizer, caplog):
    (tmp_path / "a.txt").write_text("Une phrase. Une autre.\nEncore une ligne de texte.\n", encoding="utf-8")
    corpus = CorpusConfig(name="t", sources=[SourceConfig(path=str(tmp_path / "a.txt"))], document_boundary="line", validation_fraction=0.0)
    with caplog.at_level(logging.INFO, logger="workbench.corpus.prepare"):
        manifest = prepare_corpus(corpus, PackingConfig(max_seq_len=16, num_workers=1), bert_tokenizer, tmp_path / "out", seed=0, progress=False)
    assert manifest["counts"]["documents_kept"] == 2
    assert any("read -> clean -> tokenize (1 process) -> deduplicate -> pack -> write" in r.getMessage() for r in caplog.records)
