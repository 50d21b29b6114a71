"""EncoderConfig <-> transformers ``config.json`` fields (plain dicts: no transformers import)."""

from __future__ import annotations

from typing import Any, Dict

from workbench.model.config import EncoderConfig


class InteropError(ValueError):
    """A model cannot be converted; the message says which setting blocks it."""


HF_ACTIVATIONS = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu"}
FROM_HF_ACTIVATIONS = {"gelu": "gelu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "relu": "relu"}


def check_exportable(config: EncoderConfig) -> None:
    """Raise InteropError when transformers' class for ``config.family`` cannot express this encoder."""
    family = config.family
    problems = []
    if family == "flaubert":
        if config.type_vocab_size:
            problems.append("type_vocab_size must be 0 (FlauBERT adds token types through the word embeddings)")
        if config.num_languages == 1:
            problems.append("num_languages must be 0 or >= 2 (transformers ignores a single language embedding)")
        if config.position_offset:
            problems.append("position_offset must be 0")
        if config.activation == "gelu_tanh":
            problems.append("activation must be gelu or relu")
        if config.norm_position == "pre" and config.final_norm:
            problems.append("pre-norm FlauBERT has no final LayerNorm: set final_norm=false")
        if config.mlm_transform:
            problems.append("mlm_transform must be false (XLM's prediction layer is one linear layer)")
        if config.pooler:
            problems.append("pooler must be false")
        if config.intermediate_size != 4 * config.hidden_size:
            problems.append("intermediate_size must be 4 * hidden_size (XLM's fixed FFN width)")
    else:
        if config.norm_position != "post":
            problems.append("norm_position must be post")
        if config.position_embedding != "learned":
            problems.append("position_embedding must be learned")
        if config.num_languages:
            problems.append("num_languages must be 0")
        if config.type_vocab_size < 1:
            problems.append("type_vocab_size must be >= 1")
        if not config.mlm_transform:
            problems.append("mlm_transform must be true")
        if family == "bert" and config.position_offset:
            problems.append("position_offset must be 0 for BERT")
        if family in ("roberta", "camembert") and config.position_offset != config.pad_token_id + 1:
            problems.append(
                f"position_offset must be pad_token_id + 1 = {config.pad_token_id + 1} (RoBERTa counts positions"
                f" from padding_idx + 1), got {config.position_offset}"
            )
    if problems:
        raise InteropError(f"cannot export this {family} encoder to transformers: " + "; ".join(problems))


def to_hf_config(config: EncoderConfig) -> Dict[str, Any]:
    """Fields of the transformers config for ``config.family`` (model_type included)."""
    check_exportable(config)
    if config.family == "flaubert":
        return {
            "model_type": "flaubert",
            "vocab_size": config.vocab_size,
            "emb_dim": config.hidden_size,
            "n_layers": config.num_layers,
            "n_heads": config.num_heads,
            "dropout": config.dropout,
            "attention_dropout": config.attention_dropout,
            "gelu_activation": config.activation == "gelu",
            "sinusoidal_embeddings": config.position_embedding == "sinusoidal",
            "causal": False,
            "asm": False,
            "n_langs": max(config.num_languages, 1),
            "use_lang_emb": config.num_languages > 1,
            "max_position_embeddings": config.max_positions,
            "layer_norm_eps": config.layer_norm_eps,
            "pre_norm": config.norm_position == "pre",
            "layerdrop": config.layerdrop,
            "init_std": config.initializer_range,
            "pad_index": config.pad_token_id,
            "pad_token_id": config.pad_token_id,
            "tie_word_embeddings": config.tie_word_embeddings,
        }
    return {
        "model_type": config.family,
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "intermediate_size": config.intermediate_size,
        "hidden_act": HF_ACTIVATIONS[config.activation],
        "hidden_dropout_prob": config.dropout,
        "attention_probs_dropout_prob": config.attention_dropout,
        "max_position_embeddings": config.position_rows,
        "type_vocab_size": config.type_vocab_size,
        "initializer_range": config.initializer_range,
        "layer_norm_eps": config.layer_norm_eps,
        "pad_token_id": config.pad_token_id,
        "position_embedding_type": "absolute",
        "tie_word_embeddings": config.tie_word_embeddings,
    }


def from_hf_config(data: Dict[str, Any], has_pooler: bool, source: str = "config.json") -> EncoderConfig:
    """EncoderConfig for a transformers ``config.json`` (bert, roberta, camembert, flaubert)."""
    model_type = data.get("model_type")
    if model_type == "flaubert":
        if data.get("asm") or data.get("causal"):
            raise InteropError(f"{source}: adaptive softmax and causal FlauBERT models are not supported")
        emb_dim = data.get("emb_dim", 2048)
        n_langs = data.get("n_langs", 1)
        pad = data.get("pad_index", data.get("pad_token_id", 2))
        return EncoderConfig(
            family="flaubert",
            size="imported",
            vocab_size=data.get("vocab_size", data.get("n_words")),
            hidden_size=emb_dim,
            num_layers=data.get("n_layers", 12),
            num_heads=data.get("n_heads", 16),
            intermediate_size=4 * emb_dim,
            activation="gelu" if data.get("gelu_activation", True) else "relu",
            max_positions=data.get("max_position_embeddings", 512),
            position_embedding="sinusoidal" if data.get("sinusoidal_embeddings") else "learned",
            type_vocab_size=0,
            num_languages=n_langs if (n_langs > 1 and data.get("use_lang_emb", True)) else 0,
            norm_position="pre" if data.get("pre_norm") else "post",
            final_norm=False,
            layer_norm_eps=data.get("layer_norm_eps", 1e-12),
            dropout=data.get("dropout", 0.1),
            attention_dropout=data.get("attention_dropout", 0.1),
            layerdrop=data.get("layerdrop", 0.0),
            pooler=False,
            tie_word_embeddings=data.get("tie_word_embeddings", True),
            mlm_transform=False,
            pad_token_id=pad,
            initializer_range=data.get("init_std", 0.02),
        )
    if model_type not in ("bert", "roberta", "camembert"):
        raise InteropError(
            f"{source}: model_type {model_type!r} is not supported; choose a bert, roberta, camembert or flaubert model"
        )
    if data.get("position_embedding_type", "absolute") != "absolute":
        raise InteropError(f"{source}: position_embedding_type {data['position_embedding_type']!r}: only absolute is supported")
    act = data.get("hidden_act", "gelu")
    if act not in FROM_HF_ACTIVATIONS:
        raise InteropError(f"{source}: hidden_act {act!r} is not supported; one of {sorted(FROM_HF_ACTIVATIONS)}")
    pad = data.get("pad_token_id", 0 if model_type == "bert" else 1)
    offset = 0 if model_type == "bert" else pad + 1
    return EncoderConfig(
        family=model_type,
        size="imported",
        vocab_size=data["vocab_size"],
        hidden_size=data.get("hidden_size", 768),
        num_layers=data.get("num_hidden_layers", 12),
        num_heads=data.get("num_attention_heads", 12),
        intermediate_size=data.get("intermediate_size", 3072),
        activation=FROM_HF_ACTIVATIONS[act],
        max_positions=data.get("max_position_embeddings", 512) - offset,
        position_offset=offset,
        type_vocab_size=data.get("type_vocab_size", 2),
        layer_norm_eps=data.get("layer_norm_eps", 1e-12),
        dropout=data.get("hidden_dropout_prob", 0.1),
        attention_dropout=data.get("attention_probs_dropout_prob", 0.1),
        pooler=has_pooler,
        tie_word_embeddings=data.get("tie_word_embeddings", True),
        mlm_transform=True,
        pad_token_id=pad,
        initializer_range=data.get("initializer_range", 0.02),
    )
