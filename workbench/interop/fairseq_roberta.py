"""fairseq RoBERTa/CamemBERT checkpoint -> workbench ``EncoderConfig`` and ``PretrainingModel`` state dict.

Pure data: a plain checkpoint dict in (see ``fairseq_checkpoint``), tensors out. Handles the layouts
fairseq's own ``RobertaModel.upgrade_state_dict_named`` upgrades: ``decoder.*`` (fairseq <= 0.9, the
released CamemBERT) instead of ``encoder.*``, ``emb_layer_norm`` instead of ``layernorm_embedding``, and
the fused ``self_attn.in_proj_weight`` ([q; k; v], the order of workbench's fused projection).

fairseq's RoBERTa has no token-type embeddings: the workbench model gets one all-zero type row (what
transformers' conversion does), which adds exactly nothing and keeps the model exportable to transformers.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch

from workbench.interop.hf_config import InteropError
from workbench.model.config import EncoderConfig

SENTENCE = "encoder.sentence_encoder."
HEAD = "encoder.lm_head."
ACTIVATIONS = {"gelu": "gelu", "gelu_accurate": "gelu_tanh", "gelu_fast": "gelu_tanh", "relu": "relu"}
# fairseq's base_architecture defaults and the named architectures that change them
ARCH_DEFAULTS: Dict[str, Any] = {
    "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12,
    "dropout": 0.1, "attention_dropout": 0.1, "max_positions": 512, "activation_fn": "gelu",
    "encoder_normalize_before": False, "layernorm_embedding": True, "no_scale_embedding": True,
    "encoder_learned_pos": True, "no_token_positional_embeddings": False, "untie_weights_roberta": False,
    "encoder_layerdrop": 0.0, "adaptive_input": False,
}
ARCH_OVERRIDES: Dict[str, Dict[str, Any]] = {
    "roberta_large": {"encoder_layers": 24, "encoder_embed_dim": 1024, "encoder_ffn_embed_dim": 4096,
                      "encoder_attention_heads": 16},
    "xlm": {"encoder_layers": 16, "encoder_embed_dim": 1280, "encoder_ffn_embed_dim": 5120, "encoder_attention_heads": 16},
    "roberta_prenorm": {"encoder_normalize_before": True, "layernorm_embedding": False},
}
IGNORED_SUFFIXES = (".version", "._float_tensor")


def model_args(checkpoint: Dict[str, Any], source: str) -> Dict[str, Any]:
    """The model hyperparameters: ``args`` (fairseq < 0.10) or ``cfg['model']``, with fairseq's arch defaults."""
    args = checkpoint.get("args")
    if not isinstance(args, dict):
        cfg = checkpoint.get("cfg")
        args = cfg.get("model") if isinstance(cfg, dict) else None
    if not isinstance(args, dict):
        raise InteropError(f"{source}: the checkpoint has neither 'args' nor 'cfg.model'; cannot tell the architecture")
    arch = str(args.get("arch") or args.get("_name") or "roberta")
    merged = {**ARCH_DEFAULTS, **ARCH_OVERRIDES.get(arch, {})}
    merged.update({key: value for key, value in args.items() if value is not None})
    merged["arch"] = arch
    return merged


def upgraded_state(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """fairseq's renames of old checkpoints: decoder -> encoder, emb_layer_norm -> layernorm_embedding."""
    out = {}
    for key, tensor in state.items():
        if key.startswith("decoder."):
            key = "encoder." + key[len("decoder."):]
        out[key.replace(".emb_layer_norm.", ".layernorm_embedding.")] = tensor
    return out


def encoder_config(args: Dict[str, Any], state: Dict[str, torch.Tensor], pad_index: int, family: str,
                   source: str) -> EncoderConfig:
    problems = []
    if args["encoder_normalize_before"] or not args["layernorm_embedding"]:
        problems.append("pre-norm RoBERTa (encoder_normalize_before / no layernorm_embedding)")
    if not args["no_scale_embedding"]:
        problems.append("scaled embeddings (no_scale_embedding=False)")
    if not args["encoder_learned_pos"] or args["no_token_positional_embeddings"]:
        problems.append("sinusoidal or absent positions")
    if args["adaptive_input"]:
        problems.append("adaptive input")
    activation = ACTIVATIONS.get(str(args["activation_fn"]))
    if activation is None:
        problems.append(f"activation_fn={args['activation_fn']!r} (supported: {sorted(ACTIVATIONS)})")
    if problems:
        raise InteropError(f"{source}: cannot import this RoBERTa variant: " + "; ".join(problems))
    words = _tensor(state, SENTENCE + "embed_tokens.weight", source)
    positions = _tensor(state, SENTENCE + "embed_positions.weight", source)
    layers = _layer_count(state)
    vocab_size, hidden = words.shape
    ffn = _tensor(state, f"{SENTENCE}layers.0.fc1.weight", source).shape[0]
    offset = pad_index + 1
    checks = {"encoder_layers": (int(args["encoder_layers"]), layers),
              "encoder_embed_dim": (int(args["encoder_embed_dim"]), hidden),
              "encoder_ffn_embed_dim": (int(args["encoder_ffn_embed_dim"]), ffn)}
    for key, (declared, actual) in checks.items():
        if declared != actual:
            raise InteropError(f"{source}: {key}={declared} in the checkpoint's arguments but the weights have {actual}")
    try:
        return EncoderConfig(
            family=family,
            size="imported",
            vocab_size=vocab_size,
            hidden_size=hidden,
            num_layers=layers,
            num_heads=int(args["encoder_attention_heads"]),
            intermediate_size=ffn,
            activation=activation,
            max_positions=positions.shape[0] - offset,
            position_offset=offset,
            type_vocab_size=1,
            layer_norm_eps=1e-5,  # fairseq's LayerNorm (torch's default)
            dropout=float(args["dropout"]),
            attention_dropout=float(args["attention_dropout"]),
            layerdrop=float(args["encoder_layerdrop"] or 0.0),
            pooler=False,
            tie_word_embeddings=not args["untie_weights_roberta"],
            mlm_transform=True,
            pad_token_id=pad_index,
        )
    except ValueError as error:
        raise InteropError(f"{source}: the checkpoint's architecture is not a valid encoder ({error})") from None


def _tensor(state: Dict[str, torch.Tensor], key: str, source: str) -> torch.Tensor:
    if key not in state:
        raise InteropError(f"{source}: the checkpoint lacks {key}; is it a RoBERTa checkpoint?")
    return state[key]


def _layer_count(state: Dict[str, torch.Tensor]) -> int:
    prefix = SENTENCE + "layers."
    indices = {int(key[len(prefix):].split(".", 1)[0]) for key in state if key.startswith(prefix)}
    if indices != set(range(len(indices))):
        raise InteropError(f"layer indices {sorted(indices)} are not contiguous")
    return len(indices)


def _qkv(state: Dict[str, torch.Tensor], attn: str, kind: str, used: set) -> torch.Tensor:
    fused = f"{attn}in_proj_{kind}"
    if fused in state:
        used.add(fused)
        return state[fused]
    keys = [f"{attn}{name}_proj.{kind}" for name in ("q", "k", "v")]
    used.update(keys)
    return torch.cat([state[key] for key in keys], dim=0)


def workbench_state(state: Dict[str, torch.Tensor], config: EncoderConfig, source: str) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """``PretrainingModel`` state dict from an upgraded fairseq state dict; returns it and the ignored keys
    (classification heads, which workbench fine-tuning replaces)."""
    used: set = set()
    out: Dict[str, torch.Tensor] = {}

    def take(ours: str, theirs: str) -> None:
        out[ours] = _tensor(state, theirs, source)
        used.add(theirs)

    take("encoder.embeddings.word_embeddings.weight", SENTENCE + "embed_tokens.weight")
    take("encoder.embeddings.position_embeddings.weight", SENTENCE + "embed_positions.weight")
    out["encoder.embeddings.token_type_embeddings.weight"] = torch.zeros(1, config.hidden_size, dtype=out[
        "encoder.embeddings.word_embeddings.weight"].dtype)
    for kind in ("weight", "bias"):
        take(f"encoder.embeddings.norm.{kind}", f"{SENTENCE}layernorm_embedding.{kind}")
    try:
        for i in range(config.num_layers):
            layer, ours = f"{SENTENCE}layers.{i}.", f"encoder.layers.{i}."
            for kind in ("weight", "bias"):
                out[f"{ours}attention.qkv.{kind}"] = _qkv(state, layer + "self_attn.", kind, used)
                take(f"{ours}attention.out.{kind}", f"{layer}self_attn.out_proj.{kind}")
                take(f"{ours}attention_norm.{kind}", f"{layer}self_attn_layer_norm.{kind}")
                take(f"{ours}mlp.up.{kind}", f"{layer}fc1.{kind}")
                take(f"{ours}mlp.down.{kind}", f"{layer}fc2.{kind}")
                take(f"{ours}mlp_norm.{kind}", f"{layer}final_layer_norm.{kind}")
    except KeyError as error:
        raise InteropError(f"{source}: the checkpoint lacks {error.args[0]}") from None
    for kind in ("weight", "bias"):
        take(f"mlm_head.dense.{kind}", f"{HEAD}dense.{kind}")
        take(f"mlm_head.norm.{kind}", f"{HEAD}layer_norm.{kind}")
    take("mlm_head.bias", HEAD + "bias")
    take("mlm_head.decoder.weight", HEAD + "weight")
    if config.tie_word_embeddings and not torch.equal(out["mlm_head.decoder.weight"], out["encoder.embeddings.word_embeddings.weight"]):
        raise InteropError(f"{source}: untie_weights_roberta is false but lm_head.weight differs from embed_tokens")
    ignored = sorted(k for k in state if k.startswith("classification_heads.") or k.endswith(IGNORED_SUFFIXES))
    unused = sorted(set(state) - used - set(ignored))
    if unused:
        raise InteropError(f"{source}: tensors the workbench model has no place for: {unused[:10]}")
    return {key: tensor.float() if tensor.is_floating_point() else tensor for key, tensor in out.items()}, ignored
