"""Fixtures of the evaluation tests: real tokenizers (all-MiniLM-L6-v2's WordPiece, a byte-level BPE trained on
French text) and a tiny workbench model folder built on the MiniLM vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workbench.tokenization.tokenizer import Tokenizer



@pytest.fixture(scope="session")
def wordpiece(minilm_dir) -> Tokenizer:
    from workbench.evaluation.models import tokenizer_from_transformers

    return tokenizer_from_transformers(minilm_dir)[0]


@pytest.fixture(scope="session")
def french_bpe(shared_data) -> Tokenizer:
    """A byte-level BPE (RoBERTa-style offsets, multi-byte accents) trained on PIAF contexts."""
    from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers, trainers

    data = json.loads((shared_data / "piaf_fr" / "piaf-v1.0.json").read_text(encoding="utf-8"))
    texts = [p["context"] for a in data["data"][:60] for p in a["paragraphs"]]
    backend = HFTokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(texts, trainer)
    meta = {"family": "roberta", "algorithm": "bpe",
            "special_tokens": {"pad": "<pad>", "unk": "<unk>", "cls": "<s>", "sep": "</s>", "mask": "<mask>"}}
    return Tokenizer(backend, meta)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, french_bpe) -> Path:
    """A finished workbench model folder: a 2-layer, 64-wide RoBERTa-style encoder on the 2000-token French BPE."""
    return _tiny_model(tmp_path_factory.mktemp("tiny"), french_bpe)


@pytest.fixture(scope="session")
def exportable_model_dir(tmp_path_factory, french_bpe) -> Path:
    """``tiny_model_dir`` with RoBERTa's position numbering (from padding_idx + 1), so transformers' class holds it."""
    return _tiny_model(tmp_path_factory.mktemp("tiny-roberta"), french_bpe, position_offset=french_bpe.pad_id + 1)


def _tiny_model(root: Path, french_bpe, **fields) -> Path:
    from workbench.artifacts.model_folder import save_model_folder
    from workbench.model.config import EncoderConfig
    from workbench.model.finetuning import TokenClassifier

    tok_dir = root / "tokenizer"
    tok_dir.mkdir()
    (tok_dir / "tokenizer.json").write_text(french_bpe.backend.to_str(), encoding="utf-8")
    (tok_dir / "workbench_tokenizer.json").write_text(json.dumps(french_bpe.meta), encoding="utf-8")
    (tok_dir / "manifest.json").write_text("{}", encoding="utf-8")
    config = EncoderConfig(family="roberta", size="tiny", vocab_size=french_bpe.vocab_size, pad_token_id=french_bpe.pad_id, hidden_size=64, num_layers=2, num_heads=2,
                           intermediate_size=128, max_positions=128, dropout=0.0, attention_dropout=0.0, **fields)
    torch.manual_seed(0)
    encoder_state = {k: v for k, v in TokenClassifier(config, 2).state_dict().items() if k.startswith("encoder.")}
    return save_model_folder(root / "model", encoder_state, config, tok_dir, {"config": {}, "note": "test fixture"})
