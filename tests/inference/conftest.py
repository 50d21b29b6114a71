"""Fixtures of the inference tests: a tiny CamemBERT-style workbench model folder (tokenizer trained on the
shipped French sample, random but non-trivial weights) and the real all-MiniLM-L6-v2 transformers checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers import randomize_weights

from workbench.corpus.config import SourceConfig
from workbench.model.config import EncoderConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def sample_tokenizer_dir(tmp_path_factory) -> Path:
    from workbench.tokenization.config import TokenizerConfig
    from workbench.tokenization.train import train_tokenizer

    config = TokenizerConfig(name="tiny-sp", algorithm="sentencepiece_bpe", vocab_size=800, special_tokens="roberta",
                             character_coverage=1.0, sample_lines=100_000)
    sources = [SourceConfig(path=str(REPO_ROOT / "corpora" / "sample_fr" / "text" / "*.txt"))]
    return train_tokenizer(config, sources, tmp_path_factory.mktemp("tok") / "tiny-sp")


def tiny_config(vocab_size: int, pad_id: int, **changes) -> EncoderConfig:
    base = dict(family="camembert", size="tiny", vocab_size=vocab_size, pad_token_id=pad_id, position_offset=pad_id + 1,
                type_vocab_size=1, layer_norm_eps=1e-5, hidden_size=32, num_layers=5, num_heads=4, intermediate_size=64,
                max_positions=64, dropout=0.0, attention_dropout=0.0)
    base.update(changes)
    return EncoderConfig(**base)




def save_pretraining_model(directory: Path, tokenizer_dir: Path, **changes) -> Path:
    from workbench.artifacts.model_folder import save_model_folder
    from workbench.model.pretraining import PretrainingModel
    from workbench.tokenization.tokenizer import Tokenizer

    tokenizer = Tokenizer.load(tokenizer_dir)
    config = tiny_config(tokenizer.vocab_size, tokenizer.pad_id, **changes)
    model = randomize_weights(PretrainingModel(config))
    return save_model_folder(directory, model.state_dict(), config, tokenizer_dir, {"config": {}, "note": "inference test fixture"})


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, sample_tokenizer_dir) -> Path:
    return save_pretraining_model(tmp_path_factory.mktemp("tiny") / "model", sample_tokenizer_dir)

