"""Fixtures of the corpus tests: a real WordPiece tokenizer folder trained on real French prose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

from workbench.tokenization.tokenizer import Tokenizer

SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
ROBERTA_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "cls": "<s>", "sep": "</s>", "mask": "<mask>"}


@pytest.fixture(scope="session")
def prose_dir(shared_data: Path) -> Path:
    folder = shared_data / "french_prose" / "eltec_fra_plain1"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing")
    return folder


@pytest.fixture(scope="session")
def prose_files(prose_dir: Path) -> list[Path]:
    return sorted(prose_dir.glob("*.txt"))


def write_prose_excerpt(folder: Path, files: list[Path], lines: int) -> Path:
    """The first ``lines`` lines of each of ``files`` (real prose, one paragraph per line), under their names in
    ``folder``: a temporary copy, never in the repository."""
    for path in files:
        head = path.read_text(encoding="utf-8").splitlines()[:lines]
        (folder / path.name).write_text("\n".join(head) + "\n", encoding="utf-8")
    return folder


def _save(backend: HFTokenizer, folder: Path, family: str, algorithm: str, specials: dict) -> Tokenizer:
    folder.mkdir(parents=True, exist_ok=True)
    backend.save(str(folder / "tokenizer.json"))
    meta = {"family": family, "algorithm": algorithm, "special_tokens": specials}
    (folder / "workbench_tokenizer.json").write_text(json.dumps(meta), encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"test_fixture": True}), encoding="utf-8")
    return Tokenizer.load(folder)


def _training_lines(files: list[Path], limit: int = 20000) -> list[str]:
    lines: list[str] = []
    for path in files[:3]:
        lines.extend(path.read_text(encoding="utf-8").splitlines())
    return lines[:limit]


@pytest.fixture(scope="session")
def bert_tokenizer(tmp_path_factory: pytest.TempPathFactory, prose_files: list[Path]) -> Tokenizer:
    backend = HFTokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=2000, special_tokens=list(SPECIALS.values()), show_progress=False)
    backend.train_from_iterator(_training_lines(prose_files), trainer)
    return _save(backend, tmp_path_factory.mktemp("tok") / "wp", "bert", "wordpiece", SPECIALS)


@pytest.fixture(scope="session")
def roberta_tokenizer(tmp_path_factory: pytest.TempPathFactory, prose_files: list[Path]) -> Tokenizer:
    backend = HFTokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1500,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_training_lines(prose_files), trainer)
    return _save(backend, tmp_path_factory.mktemp("tok") / "bbpe", "roberta", "byte_bpe", ROBERTA_SPECIALS)
