"""Base encoders (no heads) have exactly the parameter count of transformers' model class of the same shape."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from workbench.model.config import EncoderConfig

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"


def load_yaml(name: str, **overrides) -> EncoderConfig:
    merged = OmegaConf.merge(OmegaConf.structured(EncoderConfig), OmegaConf.load(CONF / f"{name}.yaml"), overrides)
    return OmegaConf.to_object(merged)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_on_meta(factory):
    with torch.device("meta"):
        return factory()


@pytest.mark.parametrize(
    "name, vocab_size, published",
    [
        ("bert_base", 30522, 109_482_240),
        ("roberta_base", 50265, 124_645_632),
        ("camembert_base", 32005, 110_621_952),
        ("flaubert_base", 68729, 138_233_088),
    ],
)
def test_base_encoder_parameter_count_matches_published(name, vocab_size, published):
    from workbench.model.encoder import Encoder

    config = load_yaml(name, vocab_size=vocab_size)
    assert count(build_on_meta(lambda: Encoder(config))) == published


@pytest.mark.parametrize("name, vocab_size", [("bert_base", 30522), ("roberta_base", 50265), ("camembert_base", 32005), ("flaubert_base", 68729), ("bert_large", 30522), ("roberta_large", 50265), ("flaubert_large", 68729)])
def test_encoder_parameter_count_matches_transformers_class(name, vocab_size):
    transformers = pytest.importorskip("transformers")
    from workbench.model.encoder import Encoder

    config = load_yaml(name, vocab_size=vocab_size)
    if config.family == "flaubert":
        reference = lambda: transformers.FlaubertModel(  # noqa: E731
            transformers.FlaubertConfig(
                vocab_size=vocab_size, emb_dim=config.hidden_size, n_layers=config.num_layers,
                n_heads=config.num_heads, pre_norm=config.norm_position == "pre",
            )
        )
    else:
        cls = {"bert": "Bert", "roberta": "Roberta", "camembert": "Camembert"}[config.family]
        hf_config = getattr(transformers, f"{cls}Config")(
            vocab_size=vocab_size, hidden_size=config.hidden_size, num_hidden_layers=config.num_layers,
            num_attention_heads=config.num_heads, intermediate_size=config.intermediate_size,
            max_position_embeddings=config.position_rows, type_vocab_size=config.type_vocab_size,
        )
        reference = lambda: getattr(transformers, f"{cls}Model")(hf_config)  # noqa: E731
    assert count(build_on_meta(lambda: Encoder(config))) == count(build_on_meta(reference))


def test_pretraining_model_ties_decoder_to_embeddings():
    from workbench.model.pretraining import PretrainingModel

    config = load_yaml("bert_tiny", vocab_size=1000)
    model = PretrainingModel(config, nsp=True)
    assert model.mlm_head.decoder.weight is model.encoder.embeddings.word_embeddings.weight
    # tied weights count once; MLM transform (dense + LN) + bias + pooler + NSP are the only extras
    extras = (128 * 128 + 128) + 2 * 128 + 1000 + (128 * 128 + 128) + (128 * 2 + 2)
    assert count(model) == count(build_on_meta(lambda: __import__("workbench.model.encoder", fromlist=["Encoder"]).Encoder(dataclasses.replace(config, pooler=False)))) + extras
