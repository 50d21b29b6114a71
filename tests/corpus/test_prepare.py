"""prepare_corpus: determinism across workers, exact resume after a kill, reuse, bad input, splits, dedup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from workbench.corpus.cleaning import clean_line, document_hash, is_validation
from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
from workbench.corpus.prepare import STATE_FILE, PrepareError, prepare_corpus
from workbench.corpus.resume_state import read_state
from workbench.artifacts.hashing import sha256_file
from workbench.corpus.shards import ShardSet
from workbench.text.sources import SourceError

from .conftest import write_prose_excerpt

REPO = Path(__file__).resolve().parents[2]


def _shard_bytes(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def _corpus(path: str, **kw) -> CorpusConfig:
    kw.setdefault("document_boundary", "line")
    kw.setdefault("validation_fraction", 0.05)
    return CorpusConfig(name="t", sources=[SourceConfig(path=path)], **kw)


@pytest.fixture(scope="module")
def small_text(tmp_path_factory, prose_files) -> Path:
    """~0.4 MB of real prose, one paragraph per line, in 4 files (a temporary copy, never in the repo)."""
    return write_prose_excerpt(tmp_path_factory.mktemp("small"), prose_files[:4], lines=300)


@pytest.mark.parametrize("mode", ["full_sentences", "sentence_pairs", "stream"])
def test_byte_identical_whatever_the_number_of_workers(tmp_path, small_text, bert_tokenizer, mode):
    corpus = _corpus(str(small_text / "*.txt"))
    outputs = []
    for workers in (1, 2, 3):
        packing = PackingConfig(mode=mode, max_seq_len=64, shard_tokens=20_000, num_workers=workers)
        out = tmp_path / f"w{workers}"
        manifest = prepare_corpus(corpus, packing, bert_tokenizer, out, seed=3, progress=False)
        outputs.append(_shard_bytes(out))
        assert manifest["num_workers"] == workers
    assert len(outputs[0]) > 6  # several shards per split
    assert outputs[0] == outputs[1] == outputs[2]


def test_manifest_counts_and_round_trip(tmp_path, small_text, bert_tokenizer):
    corpus = _corpus(str(small_text / "*.txt"))
    packing = PackingConfig(mode="full_sentences", max_seq_len=64, shard_tokens=20_000)
    manifest = prepare_corpus(corpus, packing, bert_tokenizer, tmp_path / "s", seed=0, progress=False)
    shards = ShardSet.open(tmp_path / "s")
    shards.verify()
    assert manifest["dtype"] == "uint16" and manifest["vocab_size"] == bert_tokenizer.vocab_size
    lines = [clean_line(l, "NFC") for p in sorted(small_text.glob("*.txt")) for l in p.read_text("utf-8").splitlines()]
    lines = [l for l in lines if l]
    distinct = len(set(lines))
    assert manifest["counts"]["documents_read"] == len(lines)
    assert manifest["counts"]["documents_kept"] == distinct
    assert manifest["dropped"].get("document_duplicate", 0) == len(lines) - distinct
    train, valid = shards.split("train"), shards.split("valid")
    assert manifest["splits"]["train"]["documents"] + manifest["splits"]["valid"]["documents"] == distinct
    # the split is by content hash, so recomputing it gives the same counts
    expected_valid = sum(is_validation(document_hash([l]), 0.05) for l in set(lines))
    assert manifest["splits"]["valid"]["documents"] == expected_valid
    # all tokens of the kept train documents come back, in order, from the shards
    seen = set()
    train_lines = []
    for l in lines:
        if l not in seen:
            seen.add(l)
            if not is_validation(document_hash([l]), 0.05):
                train_lines.append(l)
    from workbench.corpus.sentences import split_sentences

    expected = np.concatenate([np.array(bert_tokenizer.encode(s)) for l in train_lines for s in split_sentences(l)])
    stream = np.concatenate([train[i][1:-1] for i in range(len(train))])
    assert np.array_equal(stream[stream != bert_tokenizer.sep_id], expected[expected != bert_tokenizer.sep_id])
    assert len(valid) > 0 and train.num_tokens == manifest["splits"]["train"]["tokens"]


def test_reused_when_the_config_matches_and_refused_otherwise(tmp_path, small_text, bert_tokenizer):
    corpus = _corpus(str(small_text / "*.txt"))
    packing = PackingConfig(mode="line_by_line", max_seq_len=64)
    first = prepare_corpus(corpus, packing, bert_tokenizer, tmp_path / "s", seed=0, progress=False)
    stamp = (tmp_path / "s" / "manifest.json").stat().st_mtime_ns
    again = prepare_corpus(corpus, PackingConfig(mode="line_by_line", max_seq_len=64, num_workers=2), bert_tokenizer, tmp_path / "s", seed=5, progress=False)
    assert again == first and (tmp_path / "s" / "manifest.json").stat().st_mtime_ns == stamp
    with pytest.raises(PrepareError, match="another configuration"):
        prepare_corpus(corpus, PackingConfig(mode="line_by_line", max_seq_len=32), bert_tokenizer, tmp_path / "s", seed=0, progress=False)


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
    from workbench.corpus.prepare import prepare_corpus
    from workbench.tokenization.tokenizer import Tokenizer
    corpus = CorpusConfig(name="t", sources=[SourceConfig(path=sys.argv[1])], document_boundary="line", validation_fraction=0.05)
    packing = PackingConfig(mode="sentence_pairs", max_seq_len=64, shard_tokens=5000, num_workers=int(sys.argv[4]))
    prepare_corpus(corpus, packing, Tokenizer.load(sys.argv[2]), sys.argv[3], seed=1, progress=False)
    """
)


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_run_resumes_to_identical_shards(tmp_path, small_text, bert_tokenizer, workers):
    corpus = _corpus(str(small_text / "*.txt"))
    packing = PackingConfig(mode="sentence_pairs", max_seq_len=64, shard_tokens=5000, num_workers=workers)
    reference = tmp_path / "reference"
    prepare_corpus(corpus, packing, bert_tokenizer, reference, seed=1, progress=False)
    n_parts = len(json.loads((reference / "manifest.json").read_text())["splits"]["train"]["shards"])
    assert n_parts >= 8

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-c", _KILL_SCRIPT, str(small_text / "*.txt"), str(bert_tokenizer.directory), str(out), str(workers)]
    process = subprocess.Popen(args, env=env, start_new_session=True)
    parts_done = 0
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        state = out / STATE_FILE
        if state.exists():
            try:
                parts_done = read_state(state)["part"]
            except Exception:  # being replaced at this instant
                pass
            if parts_done >= 3:
                break
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 3 <= parts_done < n_parts
    assert not (out / "manifest.json").exists()
    # what the state claims is complete really is: every claimed file exists with its recorded hash
    state = read_state(out / STATE_FILE)
    for records in state["records"].values():
        for record in records:
            assert sha256_file(out / record["files"]["tokens"]) == record["sha256"]

    resumed = prepare_corpus(corpus, packing, bert_tokenizer, out, seed=1, progress=False)
    assert _shard_bytes(out) == _shard_bytes(reference)  # no duplicated, no missing document or sequence
    expected = json.loads((reference / "manifest.json").read_text())
    assert resumed["counts"] == expected["counts"] and resumed["dropped"] == expected["dropped"]
    assert resumed["splits"] == expected["splits"]


def test_bad_bytes_empty_documents_and_missing_files(tmp_path, bert_tokenizer):
    data = tmp_path / "data"
    data.mkdir()
    good = "Le chat dort sur le canapé. Il rêve de souris.\n"
    (data / "a.txt").write_bytes(
        good.encode()
        + b"Une ligne avec des octets invalides \xff\xfe ici.\n"
        + b"\x00\x01\x02\n"  # only control characters: an empty document after cleaning
        + b"   \t \n"  # blank: a separator, not a document
        + "Encore une phrase correcte, assez longue.\n".encode()
        + good.encode()  # duplicate
    )
    corpus = CorpusConfig(name="t", sources=[SourceConfig(path=str(data / "*.txt"))], document_boundary="line", validation_fraction=0.0)
    packing = PackingConfig(mode="line_by_line", max_seq_len=64)
    manifest = prepare_corpus(corpus, packing, bert_tokenizer, tmp_path / "r", seed=0, progress=False)
    assert manifest["counts"]["undecodable_lines"] == 1
    assert manifest["dropped"] == {"document_duplicate": 1, "document_empty": 1, "line_empty": 1}
    assert manifest["counts"]["documents_kept"] == 3
    train = ShardSet.open(tmp_path / "r").split("train")
    decoded = [bert_tokenizer.decode(train[i].tolist()) for i in range(len(train))]
    assert any("invalides" in d for d in decoded)  # replaced, kept

    skip = CorpusConfig(name="t", sources=corpus.sources, document_boundary="line", validation_fraction=0.0, undecodable="skip")
    manifest = prepare_corpus(skip, packing, bert_tokenizer, tmp_path / "s", seed=0, progress=False)
    assert manifest["dropped"] == {"document_duplicate": 1, "document_empty": 2, "line_empty": 1, "line_undecodable": 1}
    assert manifest["counts"]["documents_kept"] == 2

    missing = CorpusConfig(name="t", sources=[SourceConfig(path=str(tmp_path / "nowhere" / "*.txt"))])
    with pytest.raises(SourceError) as error:
        prepare_corpus(missing, packing, bert_tokenizer, tmp_path / "m", seed=0, progress=False)
    message = str(error.value)
    assert "nowhere" in message and "\n" not in message
    assert not (tmp_path / "m").exists()  # failed before creating anything

    corrupt = data / "corrupt.txt.gz"
    corrupt.write_bytes(b"not gzip at all\n")
    broken = CorpusConfig(name="t", sources=[SourceConfig(path=str(corrupt))])
    with pytest.raises(SourceError, match=r"corrupt\.txt\.gz' cannot be read \(BadGzipFile: .*\); check that it is a valid \.gz archive"):
        prepare_corpus(broken, packing, bert_tokenizer, tmp_path / "g", seed=0, progress=False)
    assert not (tmp_path / "g").exists()  # failed reading, before writing: no empty folder left behind


def test_hub_source_fails_fast_offline(tmp_path, bert_tokenizer, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    corpus = CorpusConfig(name="t", sources=[SourceConfig(path="wikimedia/wikipedia", kind="datasets", subset="20231101.fr")])
    started = time.time()
    with pytest.raises(SourceError, match="wikimedia/wikipedia.*offline"):
        prepare_corpus(corpus, PackingConfig(), bert_tokenizer, tmp_path / "h", seed=0, progress=False)
    assert time.time() - started < 10


def test_multilingual_language_ids_and_smoothed_sampling(tmp_path, shared_data, small_text, bert_tokenizer):
    english = tmp_path / "en"
    english.mkdir()
    source = sorted((shared_data / "english_prose" / "eltec_eng_level1_text").glob("*.txt"))[0]
    (english / "en.txt").write_text("\n".join(source.read_text("utf-8").splitlines()[:150]) + "\n", encoding="utf-8")
    corpus = CorpusConfig(
        name="mix",
        sources=[SourceConfig(path=str(small_text / "*.txt"), language="fr"), SourceConfig(path=str(english / "*.txt"), language="en", weight=2.0)],
        document_boundary="line",
        validation_fraction=0.0,
        language_sampling_alpha=0.5,
    )
    manifest = prepare_corpus(corpus, PackingConfig(mode="full_sentences", max_seq_len=64), bert_tokenizer, tmp_path / "mix", seed=0, progress=False)
    assert manifest["languages"] == ["fr", "en"]
    train = ShardSet.open(tmp_path / "mix").split("train")
    langs = train.langs
    assert langs is not None and set(np.unique(langs)) == {0, 1}
    # sources are read in order and a sequence never mixes languages (one packer per language): the fr
    # sequences, then the en ones, then the final flush of each packer (fr, en)
    first_en = int(np.argmax(langs == 1))
    assert np.all(langs[:first_en] == 0) and (langs[first_en:] == 0).sum() == 1 and langs[-2] == 0
    for i in range(len(train)):
        words = bert_tokenizer.decode(train[i].tolist()).split()
        english = sum(w in ("the", "and", "of", "to", "was", "he", "she") for w in words)
        french = sum(w in ("le", "la", "de", "et", "les", "il", "elle") for w in words)
        if english + french >= 4:  # enough function words to tell
            assert (english > french) == (langs[i] == 1), (langs[i], words[:20])
    assert manifest["splits"]["train"]["sequences_per_language"] == {"fr": int((langs == 0).sum()), "en": int((langs == 1).sum())}
    sampling = manifest["language_sampling"]["languages"]
    fr_w, en_w = sampling["fr"]["weighted_tokens"], sampling["en"]["weighted_tokens"]
    p_fr = fr_w / (fr_w + en_w)
    q_fr = p_fr**0.5 / (p_fr**0.5 + (1 - p_fr) ** 0.5)
    assert sampling["fr"]["q"] == pytest.approx(q_fr) and sampling["en"]["q"] == pytest.approx(1 - q_fr)
    assert p_fr > q_fr  # smoothing moves mass toward the smaller language
    # the loader gives langs per token ([B, T], XLM) and samples languages with q
    from workbench.corpus.loader import BatchLoader, language_probs

    probs = language_probs(ShardSet.open(tmp_path / "mix"))
    assert probs == pytest.approx([q_fr, 1 - q_fr])
    loader = BatchLoader(train, 64, seed=0, pad_id=0, language_probs=probs)
    batch = loader.next_batch()
    assert batch["langs"].shape == batch["input_ids"].shape
    assert batch["langs"][:, 0].tolist() == [int(langs[i]) for i in batch["sample_ids"].tolist()]
    epoch = np.concatenate([loader.next_batch()["sample_ids"].numpy() for _ in range(loader.steps_per_epoch)])[: len(train)]
    assert abs((langs[epoch] == 1).mean() - (1 - q_fr)) < 0.01  # epoch composition follows q, not p


@pytest.mark.parametrize("mode", ["full_sentences", "line_by_line"])
def test_many_small_chunks_shared_between_processes_give_identical_shards(tmp_path, small_text, bert_tokenizer, monkeypatch, mode):
    """Chunks of ~4 KB: dozens of chunks, parts closing inside chunks, and with a backlog of one chunk per
    helper this process tokenizes many chunks itself (which ones depends on timing): the shards never change."""
    from workbench.corpus import prepare as prepare_module

    corpus = _corpus(str(small_text / "*.txt"))
    packing = PackingConfig(mode=mode, max_seq_len=64, shard_tokens=7_000)
    reference = prepare_corpus(corpus, packing, bert_tokenizer, tmp_path / "reference", seed=0, progress=False)
    monkeypatch.setattr(prepare_module, "CHUNK_CHARS", 4096)
    monkeypatch.setattr(prepare_module, "HELPER_BACKLOG", 1)
    for workers in (1, 2, 3):
        packing = PackingConfig(mode=mode, max_seq_len=64, shard_tokens=7_000, num_workers=workers)
        out = tmp_path / f"w{workers}"
        manifest = prepare_corpus(corpus, packing, bert_tokenizer, out, seed=0, progress=False)
        assert _shard_bytes(out) == _shard_bytes(tmp_path / "reference")
        assert manifest["counts"] == reference["counts"] and manifest["splits"] == reference["splits"]
    assert len(reference["splits"]["train"]["shards"]) > 8


def test_small_word_caches_taught_across_processes_give_identical_shards(tmp_path, small_text, bert_tokenizer, monkeypatch):
    """Word caches far smaller than the vocabulary of the text evict all the time while the processes teach
    each other their words (``UnitEncoder.learned``/``teach``): the shards are those of a large cache."""
    from workbench.corpus import prepare as prepare_module

    corpus = _corpus(str(small_text / "*.txt"))
    reference = prepare_corpus(corpus, PackingConfig(mode="full_sentences", max_seq_len=64, shard_tokens=7_000), bert_tokenizer, tmp_path / "reference", seed=0, progress=False)
    monkeypatch.setattr(prepare_module, "CHUNK_CHARS", 8192)
    for workers in (1, 3):
        packing = PackingConfig(mode="full_sentences", max_seq_len=64, shard_tokens=7_000, num_workers=workers, word_cache_entries=300)
        manifest = prepare_corpus(corpus, packing, bert_tokenizer, tmp_path / f"w{workers}", seed=0, progress=False)
        assert _shard_bytes(tmp_path / f"w{workers}") == _shard_bytes(tmp_path / "reference")
        assert manifest["splits"] == reference["splits"]


def test_a_corpus_left_empty_by_cleaning_names_its_files(tmp_path, bert_tokenizer):
    data = tmp_path / "data"
    data.mkdir()
    (data / "controls.txt").write_bytes(b"\x00\x01\x02\n\x03\x04\n")  # only control characters: nothing survives cleaning
    corpus = CorpusConfig(name="t", sources=[SourceConfig(path=str(data / "*.txt"))], document_boundary="line", validation_fraction=0.0)
    packing = PackingConfig(mode="line_by_line", max_seq_len=64)
    with pytest.raises(PrepareError) as error:
        prepare_corpus(corpus, packing, bert_tokenizer, tmp_path / "r", seed=0, progress=False)
    message = str(error.value)
    assert "produced no documents" in message and str(data / "controls.txt") in message  # the file behind the glob
