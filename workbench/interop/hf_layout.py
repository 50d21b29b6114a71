"""Where each workbench tensor lives in a transformers checkpoint, per family and model kind.

A pair ``(ours, [theirs...])`` maps one workbench tensor to one transformers tensor, or to several that are
concatenated along dim 0 (the fused q/k/v projection). Pure data: no I/O, no transformers import.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from workbench.model.config import EncoderConfig

Pairs = List[Tuple[str, List[str]]]

KINDS = ("encoder", "pretraining", "sequence_classification", "token_classification", "span")
BASE_PREFIX = {"bert": "bert.", "roberta": "roberta.", "camembert": "roberta.", "flaubert": "transformer."}

# transformers architecture name per (family, kind); BERT pretraining with NSP uses BertForPreTraining
ARCHITECTURES: Dict[Tuple[str, str], str] = {
    ("bert", "encoder"): "BertModel",
    ("bert", "pretraining"): "BertForMaskedLM",
    ("bert", "sequence_classification"): "BertForSequenceClassification",
    ("bert", "token_classification"): "BertForTokenClassification",
    ("bert", "span"): "BertForQuestionAnswering",
    ("roberta", "encoder"): "RobertaModel",
    ("roberta", "pretraining"): "RobertaForMaskedLM",
    ("roberta", "sequence_classification"): "RobertaForSequenceClassification",
    ("roberta", "token_classification"): "RobertaForTokenClassification",
    ("roberta", "span"): "RobertaForQuestionAnswering",
    ("camembert", "encoder"): "CamembertModel",
    ("camembert", "pretraining"): "CamembertForMaskedLM",
    ("camembert", "sequence_classification"): "CamembertForSequenceClassification",
    ("camembert", "token_classification"): "CamembertForTokenClassification",
    ("camembert", "span"): "CamembertForQuestionAnswering",
    ("flaubert", "encoder"): "FlaubertModel",
    ("flaubert", "pretraining"): "FlaubertWithLMHeadModel",
    ("flaubert", "sequence_classification"): "FlaubertForSequenceClassification",
    ("flaubert", "token_classification"): "FlaubertForTokenClassification",
    ("flaubert", "span"): "FlaubertForQuestionAnsweringSimple",
}
BERT_WITH_NSP = "BertForPreTraining"


def _linear(ours: str, theirs: str) -> Pairs:
    return [(f"{ours}.weight", [f"{theirs}.weight"]), (f"{ours}.bias", [f"{theirs}.bias"])]


def _qkv(ours: str, theirs: List[str]) -> Pairs:
    return [(f"{ours}.weight", [f"{t}.weight" for t in theirs]), (f"{ours}.bias", [f"{t}.bias" for t in theirs])]


def encoder_pairs(config: EncoderConfig, with_pooler: bool) -> Pairs:
    """Encoder tensors, relative to ``encoder.`` (ours) and to the base model (theirs)."""
    pairs: Pairs = []
    if config.family == "flaubert":
        pairs.append(("embeddings.word_embeddings.weight", ["embeddings.weight"]))
        if config.position_embedding == "learned":
            pairs.append(("embeddings.position_embeddings.weight", ["position_embeddings.weight"]))
        if config.num_languages > 0:
            pairs.append(("embeddings.language_embeddings.weight", ["lang_embeddings.weight"]))
        pairs += _linear("embeddings.norm", "layer_norm_emb")
        for i in range(config.num_layers):
            a = f"attentions.{i}"
            pairs += _qkv(f"layers.{i}.attention.qkv", [f"{a}.q_lin", f"{a}.k_lin", f"{a}.v_lin"])
            pairs += _linear(f"layers.{i}.attention.out", f"{a}.out_lin")
            pairs += _linear(f"layers.{i}.attention_norm", f"layer_norm1.{i}")
            pairs += _linear(f"layers.{i}.mlp.up", f"ffns.{i}.lin1")
            pairs += _linear(f"layers.{i}.mlp.down", f"ffns.{i}.lin2")
            pairs += _linear(f"layers.{i}.mlp_norm", f"layer_norm2.{i}")
        return pairs
    pairs.append(("embeddings.word_embeddings.weight", ["embeddings.word_embeddings.weight"]))
    pairs.append(("embeddings.position_embeddings.weight", ["embeddings.position_embeddings.weight"]))
    if config.type_vocab_size > 0:
        pairs.append(("embeddings.token_type_embeddings.weight", ["embeddings.token_type_embeddings.weight"]))
    pairs += _linear("embeddings.norm", "embeddings.LayerNorm")
    for i in range(config.num_layers):
        b = f"encoder.layer.{i}"
        pairs += _qkv(
            f"layers.{i}.attention.qkv",
            [f"{b}.attention.self.query", f"{b}.attention.self.key", f"{b}.attention.self.value"],
        )
        pairs += _linear(f"layers.{i}.attention.out", f"{b}.attention.output.dense")
        pairs += _linear(f"layers.{i}.attention_norm", f"{b}.attention.output.LayerNorm")
        pairs += _linear(f"layers.{i}.mlp.up", f"{b}.intermediate.dense")
        pairs += _linear(f"layers.{i}.mlp.down", f"{b}.output.dense")
        pairs += _linear(f"layers.{i}.mlp_norm", f"{b}.output.LayerNorm")
    if with_pooler:
        pairs += _linear("pooler.dense", "pooler.dense")
    return pairs


def head_pairs(config: EncoderConfig, kind: str, nsp: bool = False) -> Pairs:
    """Head tensors relative to the model root, both sides. The tied decoder weight is listed too."""
    family = config.family
    if kind == "encoder":
        return []
    if kind == "pretraining":
        if family == "flaubert":
            return [("mlm_head.decoder.weight", ["pred_layer.proj.weight"]), ("mlm_head.bias", ["pred_layer.proj.bias"])]
        if family == "bert":
            pairs = _linear("mlm_head.dense", "cls.predictions.transform.dense")
            pairs += _linear("mlm_head.norm", "cls.predictions.transform.LayerNorm")
            pairs += [("mlm_head.decoder.weight", ["cls.predictions.decoder.weight"]), ("mlm_head.bias", ["cls.predictions.bias"])]
            if nsp:
                pairs += _linear("nsp_head.out", "cls.seq_relationship")
            return pairs
        pairs = _linear("mlm_head.dense", "lm_head.dense")
        pairs += _linear("mlm_head.norm", "lm_head.layer_norm")
        pairs += [("mlm_head.decoder.weight", ["lm_head.decoder.weight"]), ("mlm_head.bias", ["lm_head.bias"])]
        return pairs
    if kind == "sequence_classification":
        if family == "bert":
            return _linear("head.out", "classifier")
        if family == "flaubert":
            return _linear("head.out", "sequence_summary.summary")
        return _linear("head.dense", "classifier.dense") + _linear("head.out", "classifier.out_proj")
    if kind == "token_classification":
        return _linear("head.out", "classifier")
    if kind == "span":
        return _linear("head.out", "qa_outputs")
    raise ValueError(f"unknown model kind {kind!r}; choose one of: {', '.join(KINDS)}")


# decoder biases transformers keeps as a second name of the MLM bias
BIAS_ALIASES = {"cls.predictions.bias": "cls.predictions.decoder.bias", "lm_head.bias": "lm_head.decoder.bias"}


def model_pairs(config: EncoderConfig, kind: str, with_pooler: bool, nsp: bool = False) -> Pairs:
    """All pairs, with full key names on both sides (``encoder.`` vs the transformers base prefix)."""
    if kind == "encoder":
        ours_prefix, theirs_prefix = "", ""
    else:
        ours_prefix, theirs_prefix = "encoder.", BASE_PREFIX[config.family]
    pairs = [(ours_prefix + o, [theirs_prefix + t for t in ts]) for o, ts in encoder_pairs(config, with_pooler)]
    return pairs + head_pairs(config, kind, nsp)
