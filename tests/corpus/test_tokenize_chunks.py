"""prepare's workers process a chunk of documents at once: exactly the per-document results.

The reference is the document-by-document pipeline: ``clean_document`` (counting dropped lines),
``document_hash``, ``split_sentences`` on each kept line, ``Tokenizer.encode_batch`` of the units.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from workbench.corpus.cleaning import CleaningRules, clean_document, document_hash
from workbench.corpus.sentences import split_sentences
from workbench.corpus.tokenize_docs import WorkSettings, process_chunk
from workbench.corpus.word_cache import UnitEncoder


def _documents(prose_files, multi_line: bool) -> list:
    """Raw documents of real prose with odd lines mixed in: (index, text, lang, source, undecodable)."""
    rng = random.Random(4)
    lines = [l for path in prose_files[20:23] for l in path.read_text("utf-8").split("\n")[:400]]
    odd = ["\x00\x01", "   ", "x", "\ufffd mot mot", "12 34 56 78 !!", "M. Dupont. Il\u00a0dit : « Non. »", "a" * 400,
           "l\u2019h\u00f4pital\u00a0; e\u0301te\u0301 ﬁn ①", "\u200b", "?!", "[MASK] et [CLS]"]
    docs = []
    for index in range(900):
        if multi_line:
            parts = [rng.choice(lines + odd) for _ in range(rng.randrange(1, 5))]
            text = "\n".join(parts)
        else:
            text = rng.choice(lines + odd)
        docs.append((1000 + index, text, index % 2, index % 3, rng.choice([0, 0, 0, 1, 2])))
    return docs


@pytest.mark.parametrize("multi_line", [False, True])
@pytest.mark.parametrize("sentence_units", [True, False])
@pytest.mark.parametrize("kind", ["wordpiece_word_cache", "byte_level_encode_batch"])
def test_chunk_results_equal_the_document_by_document_pipeline(prose_files, bert_tokenizer, roberta_tokenizer, kind, sentence_units, multi_line):
    tokenizer = bert_tokenizer if kind.startswith("wordpiece") else roberta_tokenizer
    rules = CleaningRules(normalization="NFC", min_chars=2, max_chars=300, skip_undecodable=True, min_alpha_fraction=0.3)
    settings = WorkSettings(rules, sentence_units=sentence_units)
    docs = _documents(prose_files, multi_line)
    encoder = UnitEncoder(tokenizer, max_entries=2000)  # small: evictions happen between chunks
    assert encoder.method == ("word_cache" if kind.startswith("wordpiece") else "encode_batch")
    chunks = [process_chunk(docs[start : start + 97], settings, encoder) for start in range(0, len(docs), 97)]
    dropped_docs = 0
    for chunk_number, chunk in enumerate(chunks):
        part = docs[chunk_number * 97 : (chunk_number + 1) * 97]
        assert chunk.first_index == part[0][0] and len(chunk) == len(part)
        assert chunk.lang_ids.tolist() == [d[2] for d in part] and chunk.source_ids.tolist() == [d[3] for d in part]
        for position, (_index, text, _lang, _source, undecodable) in enumerate(part):
            stats: Counter = Counter()
            lines = clean_document(text, rules, stats)
            if undecodable:
                stats["undecodable_lines"] += undecodable
            assert chunk.stats.get(position, {}) == dict(stats)
            dropped_docs += bool(stats)
            assert chunk.lines_kept[position] == len(lines)
            if lines:
                assert int(chunk.hashes[position]) == document_hash(lines)
            units = [s for line in lines for s in split_sentences(line)] if sentence_units else lines
            first, end = chunk.doc_units[position], chunk.doc_units[position + 1]
            assert end - first == len(units)
            bounds = chunk.unit_bounds[first : end + 1]
            got = [chunk.tokens[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])]
            assert got == tokenizer.encode_batch(units)
    assert dropped_docs > 50
