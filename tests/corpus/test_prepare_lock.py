"""prepare refuses a shard folder another process is writing, and reuses a finished one without locking it."""

from __future__ import annotations

import os
import stat

import pytest

from workbench.artifacts.locking import LOCK_FILE, FolderInUseError
from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
from workbench.corpus.prepare import prepare_corpus

from tests.artifacts.test_locking import hold_lock


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, prose_files) -> CorpusConfig:
    folder = tmp_path_factory.mktemp("lock-text")
    lines = prose_files[0].read_text(encoding="utf-8").splitlines()[:100]
    (folder / "a.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return CorpusConfig(name="t", sources=[SourceConfig(path=str(folder / "a.txt"))], document_boundary="line")


PACKING = PackingConfig(mode="full_sentences", max_seq_len=64, num_workers=1)


def test_prepare_is_refused_while_another_process_holds_the_folder(tmp_path, corpus, bert_tokenizer):
    out = tmp_path / "shards"
    holder = hold_lock(out)
    try:
        with pytest.raises(FolderInUseError, match=f"pid {holder.pid} on host"):
            prepare_corpus(corpus, PACKING, bert_tokenizer, out, seed=0, progress=False)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing of the refused run
    finally:
        holder.kill()
        holder.wait()
    manifest = prepare_corpus(corpus, PACKING, bert_tokenizer, out, seed=0, progress=False)
    assert manifest["splits"]["train"]["sequences"] > 0 and not (out / LOCK_FILE).exists()
    # a finished folder made read-only (a colleague's) is still reused: no lock is needed to read it
    os.chmod(out, stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert prepare_corpus(corpus, PACKING, bert_tokenizer, out, seed=0, progress=False)["config_hash"] == manifest["config_hash"]
    finally:
        os.chmod(out, stat.S_IRWXU)
