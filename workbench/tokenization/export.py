"""Write a trained pipeline as a tokenizer folder (everything but the manifest).

- ``tokenizer.json``: the whole `tokenizers` pipeline;
- ``workbench_tokenizer.json``: what ``Tokenizer.load`` reads (family, algorithm, special tokens, pre-tokenizer);
- ``tokenizer_config.json`` + ``special_tokens_map.json``: so ``transformers.AutoTokenizer.from_pretrained``
  builds a tokenizer giving the same ids (``PreTrainedTokenizerFast`` over tokenizer.json, or
  ``FlaubertTokenizer`` over vocab.json/merges.txt for Moses+BPE);
- the native artefacts of the algorithm.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

from tokenizers import Tokenizer as HFTokenizer

from workbench.artifacts.atomic import write_json, write_text
from workbench.tokenization.assemble import TrainedVocabulary, normalization_spec
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.families import Family

META_FILE = "workbench_tokenizer.json"
META_FORMAT = 1
FAST_CLASS = "PreTrainedTokenizerFast"


def meta_record(config: TokenizerConfig, family: Family, backend: HFTokenizer, trained: TrainedVocabulary) -> Dict:
    vocab = backend.get_vocab(with_added_tokens=True)
    spec = normalization_spec(config)
    return {
        "format": META_FORMAT,
        "name": config.name,
        "family": family.name,
        "algorithm": config.algorithm,
        "vocab_size": backend.get_vocab_size(with_added_tokens=True),
        "special_tokens": family.roles(),
        "special_token_ids": {role: vocab[token] for role, token in family.roles().items()},
        "additional_special_tokens": list(family.additional),
        "pre_tokenizer": trained.pre_tokenizer,
        "lowercase": config.lowercase,
        "normalization": {
            "unicode": spec.unicode_form,
            "apostrophes": spec.apostrophes,
            "lowercase": spec.lowercase,
            "strip_accents": spec.strip_accents,
        },
        "transformers_class": trained.extra_meta.get("transformers_class", FAST_CLASS),
        **{key: value for key, value in trained.extra_meta.items() if key != "transformers_class"},
    }


def transformers_config(config: TokenizerConfig, family: Family, trained: TrainedVocabulary) -> Dict:
    tokens = dict(family.transformers_tokens)
    record: Dict = {
        "tokenizer_class": trained.extra_meta.get("transformers_class", FAST_CLASS),
        "model_max_length": config.model_max_length,
        "clean_up_tokenization_spaces": False,
        **tokens,
    }
    if family.additional:
        record["additional_special_tokens"] = list(family.additional)
        record["extra_special_tokens"] = list(family.additional)
    if family.name == "bert":
        record["model_input_names"] = ["input_ids", "token_type_ids", "attention_mask"]
    else:
        record["model_input_names"] = ["input_ids", "attention_mask"]
    record.update(trained.extra_meta.get("transformers_kwargs", {}))
    return record


def write_tokenizer_files(
    directory: Path, config: TokenizerConfig, family: Family, backend: HFTokenizer, trained: TrainedVocabulary
) -> List[str]:
    """Write every file of the folder except manifest.json; returns their names."""
    write_text(directory / "tokenizer.json", backend.to_str(pretty=True))
    write_json(directory / META_FILE, meta_record(config, family, backend, trained))
    write_json(directory / "tokenizer_config.json", transformers_config(config, family, trained))
    special_map: Dict = dict(family.transformers_tokens)
    if family.additional:
        special_map["additional_special_tokens"] = list(family.additional)
    write_json(directory / "special_tokens_map.json", special_map)
    native = trained.write_native(directory)
    return ["tokenizer.json", META_FILE, "tokenizer_config.json", "special_tokens_map.json", *native]


def set_model_max_length(directory: Path, limit: int) -> None:
    """Write the model's real input limit (``EncoderConfig.max_positions``: its usable positions; RoBERTa's two
    padding-offset rows excluded) as ``model_max_length`` of ``directory/tokenizer_config.json``, so that
    transformers' truncation, ``pipeline("fill-mask")`` and sentence-transformers never pass a longer input to the
    model. The tokenizer folder's own value (``tokenizer.model_max_length``) knows no model."""
    path = Path(directory) / "tokenizer_config.json"
    if not path.exists():
        return
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("model_max_length") != limit:
        record["model_max_length"] = limit
        write_json(path, record)
