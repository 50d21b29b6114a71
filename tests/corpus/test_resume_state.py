"""The resume state of prepare is data: a crafted state file never runs code, a tampered one is refused,
and a run interrupted between parts still resumes to byte-identical shards."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from workbench.artifacts.hashing import sha256_file
from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
from workbench.corpus.prepare import LEGACY_STATE_FILE, STATE_FILE, PrepareError, prepare_corpus
from workbench.corpus.progress import Progress
from workbench.corpus.resume_state import StateFileError, read_state, write_state

from .conftest import write_prose_excerpt


class Payload:
    """Unpickling this creates ``marker``: the proof that a state file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, prose_files) -> CorpusConfig:
    folder = write_prose_excerpt(tmp_path_factory.mktemp("resume-text"), prose_files[:2], lines=150)
    return CorpusConfig(name="t", sources=[SourceConfig(path=str(folder / "*.txt"))], document_boundary="line", validation_fraction=0.05)


PACKING = PackingConfig(mode="sentence_pairs", max_seq_len=64, shard_tokens=3000, num_workers=1)  # pools: nested arrays


def _files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}


def _shards(folder: Path) -> dict[str, str]:
    return {name: digest for name, digest in _files(folder).items() if name != "manifest.json"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus, bert_tokenizer) -> Path:
    out = tmp_path_factory.mktemp("resume-ref") / "shards"
    prepare_corpus(corpus, PACKING, bert_tokenizer, out, seed=1, progress=False)
    return out


def _interrupted(out: Path, corpus, tokenizer, monkeypatch, parts: int = 3) -> None:
    """A run stopped right after committing ``parts`` parts (what a kill between two parts leaves)."""
    commit = Progress.commit

    def commit_then_stop(self, *args):
        commit(self, *args)
        if self.part == parts:
            raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "commit", commit_then_stop)
    with pytest.raises(KeyboardInterrupt):
        prepare_corpus(corpus, PACKING, tokenizer, out, seed=1, progress=False)
    monkeypatch.undo()
    assert read_state(out / STATE_FILE)["part"] == parts and not (out / "manifest.json").exists()


def test_state_round_trip_is_exact(tmp_path):
    state = {
        "part": 3, "name": "été", "none": None, "flag": True, "ratio": 0.1,
        "seen": np.array([2**64 - 1, 0, 7], dtype=np.uint64),
        "empty": np.zeros(0, dtype=np.int64),
        "pool": [[np.arange(5, dtype=np.int64), np.zeros(0, dtype=np.int64)], [], [np.array([-1], dtype=np.int64)]],
        "nested": {"a": {"b": [1, [2, 3]]}},
    }
    write_state(tmp_path / "s.npz", state)
    back = read_state(tmp_path / "s.npz")
    assert back.keys() == state.keys()
    for key in ("part", "name", "none", "flag", "ratio", "nested"):
        assert back[key] == state[key]
    assert back["seen"].dtype == np.uint64 and back["seen"].tolist() == state["seen"].tolist()
    assert back["empty"].dtype == np.int64 and len(back["empty"]) == 0
    assert [[s.tolist() for s in d] for d in back["pool"]] == [[s.tolist() for s in d] for d in state["pool"]]
    with pytest.raises(TypeError, match="JSON values and numpy arrays"):
        write_state(tmp_path / "t.npz", {"x": object()})


def test_a_pickled_legacy_state_is_never_loaded(tmp_path, corpus, bert_tokenizer, reference, caplog):
    out = tmp_path / "shards"
    out.mkdir()
    marker = tmp_path / "code-ran"
    (out / LEGACY_STATE_FILE).write_bytes(pickle.dumps(Payload(marker)))
    with caplog.at_level(logging.WARNING, logger="workbench.corpus.prepare"):
        prepare_corpus(corpus, PACKING, bert_tokenizer, out, seed=1, progress=False)
    assert not marker.exists()
    assert any(LEGACY_STATE_FILE in r.getMessage() and "never loaded" in r.getMessage() for r in caplog.records)
    assert _shards(out) == _shards(reference)  # prepared from the start; the stale file is gone


@pytest.mark.parametrize("kind", ["pickle", "object_array"])
def test_a_crafted_state_file_runs_no_code_and_is_refused(tmp_path, corpus, bert_tokenizer, reference, monkeypatch, kind):
    out = tmp_path / "shards"
    _interrupted(out, corpus, bert_tokenizer, monkeypatch)
    genuine = (out / STATE_FILE).read_bytes()
    marker = tmp_path / "code-ran"
    if kind == "pickle":
        (out / STATE_FILE).write_bytes(pickle.dumps(Payload(marker)))
    else:
        with open(out / STATE_FILE, "wb") as handle:
            np.savez(handle, **{"state.json": np.array([Payload(marker)], dtype=object)})
    before = _files(out)
    with pytest.raises(PrepareError) as error:
        prepare_corpus(corpus, PACKING, bert_tokenizer, out, seed=1, progress=False)
    assert not marker.exists()
    message = str(error.value)
    assert str(out / STATE_FILE) in message and "not a workbench resume state" in message and f"delete {out}" in message
    assert _files(out) == before  # nothing deleted or rewritten
    # the genuine state still resumes to the uninterrupted run's bytes
    (out / STATE_FILE).write_bytes(genuine)
    prepare_corpus(corpus, PACKING, bert_tokenizer, out, seed=1, progress=False)
    assert _shards(out) == _shards(reference)


@pytest.mark.parametrize(
    "key, tamper, expected",
    [
        ("part", lambda s: s.update(part="3"), "part is not a count"),
        ("files", lambda s: s["records"]["train"][0]["files"].update(tokens="../../outside.tokens"), "names '../../outside.tokens'"),
        ("seen", lambda s: s.update(seen=s["seen"].astype(np.int64)), "seen is not an array of uint64"),
        ("packers", lambda s: s["packers"].pop("train:0"), "does not have the packers"),
        ("format", lambda s: s.update(format=1), "format is 1"),
    ],
)
def test_a_tampered_state_is_refused_naming_the_key(tmp_path, corpus, bert_tokenizer, monkeypatch, key, tamper, expected):
    out = tmp_path / "shards"
    _interrupted(out, corpus, bert_tokenizer, monkeypatch)
    state = read_state(out / STATE_FILE)
    tamper(state)
    write_state(out / STATE_FILE, state)
    before = _files(out)
    with pytest.raises(PrepareError, match="cannot be trusted") as error:
        prepare_corpus(corpus, PACKING, bert_tokenizer, out, seed=1, progress=False)
    assert expected in str(error.value) and str(out / STATE_FILE) in str(error.value)
    assert _files(out) == before


def test_not_an_npz_is_a_state_file_error(tmp_path):
    (tmp_path / "s.npz").write_bytes(b"garbage")
    with pytest.raises(StateFileError, match="not a workbench resume state"):
        read_state(tmp_path / "s.npz")
