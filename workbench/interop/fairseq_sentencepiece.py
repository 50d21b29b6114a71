"""A fairseq SentencePiece vocabulary (``sentencepiece.bpe.model`` + ``dict.txt``) as a workbench ``Tokenizer``.

fairseq (RoBERTa/CamemBERT hub ``encode``) segments text with SentencePiece, joins the piece strings with
spaces and looks each one up in the ``Dictionary`` (unknown strings -> ``unk()``), between the lookups of
``<s>`` and ``</s>``. The `tokenizers` pipeline built here gives the same ids in one pass:

- normalizer: SentencePiece's precompiled character map, then its whitespace cleanup (strip, collapse runs
  of spaces) when the model removes extra whitespace;
- pre-tokenizer: Metaspace ("▁", a dummy prefix when the model adds one, split at whitespace when the model
  does);
- model: the same Unigram scores (or BPE merges, ranked like SentencePiece's) over fairseq's indices;
- post-processor: ``<s> A </s>`` / ``<s> A </s></s> B </s>`` with the ids fairseq's lookup gives.

Token names are fairseq's symbols; an index whose symbol was overwritten later in ``dict.txt`` gets the
name ``<symbol>NOTUSED`` (transformers' names for CamemBERT's 0 and 2), except that ``<unk>`` stays at
``unk()`` -- where unknown pieces go -- and the later copy becomes ``<unk>NOTUSED``.

Exactness needs every piece SentencePiece can output to be in ``dict.txt`` (true of CamemBERT and XLM-R,
whose dictionaries list the whole SentencePiece vocabulary): otherwise fairseq maps the missing ones to
``<unk>``, which no single segmentation model reproduces, and the import stops with the missing pieces.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from workbench.artifacts.atomic import write_json, write_text
from workbench.interop.fairseq_dictionary import FAIRSEQ_SPECIALS, MASK, FairseqDictionary
from workbench.interop.hf_config import InteropError
from workbench.tokenization.families import get_family
from workbench.tokenization.tokenizer import Tokenizer

NOTUSED = "NOTUSED"
# sentencepiece_model.proto enums
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM, BPE = 1, 2


@dataclass
class FairseqVocabulary:
    """The workbench view of a fairseq vocabulary: one name per fairseq index."""

    names: List[str]
    special_names: List[str]
    algorithm: str  # sentencepiece_unigram | sentencepiece_bpe


def _parse_model(model_bytes: bytes, source: str):
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(model_bytes)
    except Exception as error:  # protobuf's DecodeError
        raise InteropError(f"{source}: not a SentencePiece model ({type(error).__name__}: {error})") from None
    if not proto.pieces:
        raise InteropError(f"{source}: not a SentencePiece model (no pieces)")
    return proto


def _check_supported(proto, source: str) -> None:
    trainer, normalizer = proto.trainer_spec, proto.normalizer_spec
    problems = []
    if trainer.model_type not in (UNIGRAM, BPE):
        problems.append(f"model_type {trainer.model_type} (only unigram and bpe are supported)")
    if trainer.byte_fallback or any(p.type == BYTE for p in proto.pieces):
        problems.append("byte_fallback pieces")
    if any(p.type == USER_DEFINED for p in proto.pieces):
        problems.append("user-defined symbols")
    if trainer.treat_whitespace_as_suffix:
        problems.append("treat_whitespace_as_suffix")
    if normalizer.HasField("escape_whitespaces") and not normalizer.escape_whitespaces:
        problems.append("escape_whitespaces=false")
    if problems:
        raise InteropError(f"{source}: this SentencePiece model cannot be imported: " + "; ".join(problems))


def fairseq_names(dictionary: FairseqDictionary) -> List[str]:
    """One unique name per fairseq index (overwritten copies renamed ``<symbol>NOTUSED``)."""
    unk_symbol = dictionary.symbols[dictionary.unk]
    names = []
    for index, symbol in enumerate(dictionary.symbols):
        canonical = dictionary.unk if symbol == unk_symbol else dictionary.indices[symbol]
        names.append(symbol if index == canonical else symbol + NOTUSED)
    if len(set(names)) != len(names):
        seen = set()
        duplicate = next(name for name in names if name in seen or seen.add(name))
        raise InteropError(f"dict.txt: symbol {duplicate!r} is listed more than twice; it cannot be given unique names")
    return names


def build_vocabulary(model_bytes: bytes, dictionary: FairseqDictionary, source: str) -> Tuple[HFTokenizer, FairseqVocabulary]:
    """The `tokenizers` pipeline giving fairseq's ids for the SentencePiece model and dictionary."""
    proto = _parse_model(model_bytes, source)
    _check_supported(proto, source)
    names = fairseq_names(dictionary)
    outputs = [p for p in proto.pieces if p.type == NORMAL]  # pieces SentencePiece can output
    missing = [p.piece for p in outputs if p.piece not in dictionary.indices]
    if missing:
        raise InteropError(
            f"{source}: {len(missing)} SentencePiece pieces are not in dict.txt (e.g. {missing[:5]}); fairseq maps"
            " them to <unk>, which a tokenizer cannot reproduce exactly. Use a dict.txt listing the whole"
            " SentencePiece vocabulary (as CamemBERT's does)"
        )
    control = {p.piece for p in proto.pieces if p.type in (UNKNOWN, CONTROL)}
    special = {MASK, *FAIRSEQ_SPECIALS, *control}
    special_names = [
        name for index, name in enumerate(names)
        if dictionary.symbols[index] in special or name != dictionary.symbols[index]
    ]
    score = {p.piece: p.score for p in outputs}
    filler = min(score.values()) if score else 0.0
    if proto.trainer_spec.model_type == UNIGRAM:
        vocab = [(name, score.get(name, filler) if name not in special_names else 0.0) for name in names]
        model = models.Unigram(vocab, unk_id=dictionary.unk, byte_fallback=False)
        algorithm = "sentencepiece_unigram"
    else:
        from workbench.tokenization.train_sentencepiece import bpe_merges

        ids = {name: index for index, name in enumerate(names)}
        merges = bpe_merges(ids, [(p.piece, p.score) for p in outputs])
        model = models.BPE(vocab=ids, merges=merges, unk_token=names[dictionary.unk], fuse_unk=True, byte_fallback=False)
        algorithm = "sentencepiece_bpe"
    backend = HFTokenizer(model)
    backend.normalizer = _normalizer(proto)
    prepend = "always" if proto.normalizer_spec.add_dummy_prefix else "never"
    split = bool(proto.trainer_spec.split_by_whitespace) if proto.trainer_spec.HasField("split_by_whitespace") else True
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend, split=split)
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=prepend, split=split)
    backend.add_special_tokens([AddedToken(name, special=True, normalized=False) for name in special_names])
    family = get_family("roberta")
    backend.post_processor = family.post_processor(backend.get_vocab(with_added_tokens=True))
    if backend.get_vocab_size(with_added_tokens=True) != len(names):
        raise InteropError(f"{source}: internal error: the tokenizer has {backend.get_vocab_size()} ids, fairseq {len(names)}")
    return backend, FairseqVocabulary(names, special_names, algorithm)


def _normalizer(proto):
    spec = proto.normalizer_spec
    steps = []
    if spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(spec.precompiled_charsmap))
    if not spec.HasField("remove_extra_whitespaces") or spec.remove_extra_whitespaces:
        steps += [normalizers.Strip(left=True, right=True), normalizers.Replace(Regex(" {2,}"), " ")]
    return normalizers.Sequence(steps)


def meta_for(vocabulary: FairseqVocabulary, backend: HFTokenizer, model_file: str) -> Dict:
    """``workbench_tokenizer.json`` of the imported vocabulary (roberta special-token roles)."""
    family = get_family("roberta")
    vocab = backend.get_vocab(with_added_tokens=True)
    return {
        "format": 1,
        "family": "roberta",
        "algorithm": vocabulary.algorithm,
        "vocab_size": len(vocabulary.names),
        "special_tokens": family.roles(),
        "special_token_ids": {role: vocab[token] for role, token in family.roles().items()},
        "additional_special_tokens": [n for n in vocabulary.special_names if n not in family.all_tokens],
        "pre_tokenizer": None,
        "sentencepiece_model": model_file,
        "imported_from": "fairseq",
    }


def fairseq_tokenizer(model_path: Path, dictionary: FairseqDictionary) -> Tokenizer:
    """The workbench ``Tokenizer`` (in memory) of a fairseq SentencePiece vocabulary."""
    backend, vocabulary = build_vocabulary(model_path.read_bytes(), dictionary, str(model_path))
    return Tokenizer(backend, meta_for(vocabulary, backend, model_path.name), None)


def write_tokenizer_folder(directory: Path, model_path: Path, dict_path: Path, dictionary: FairseqDictionary,
                           max_positions: int, provenance_record: Dict) -> Tokenizer:
    """A complete workbench tokenizer folder (``manifest.json`` last) for a fairseq SentencePiece vocabulary:
    the `tokenizers` pipeline, workbench meta, the transformers files (``AutoTokenizer`` gives the same ids)
    and the original ``sentencepiece.bpe.model`` and ``dict.txt``."""
    backend, vocabulary = build_vocabulary(model_path.read_bytes(), dictionary, str(model_path))
    directory.mkdir(parents=True, exist_ok=True)
    write_text(directory / "tokenizer.json", backend.to_str(pretty=True))
    meta = meta_for(vocabulary, backend, model_path.name)
    write_json(directory / "workbench_tokenizer.json", meta)
    family = get_family("roberta")
    tokens = dict(family.transformers_tokens)
    extra = meta["additional_special_tokens"]
    write_json(directory / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_positions,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        **tokens,
        **({"additional_special_tokens": extra, "extra_special_tokens": extra} if extra else {}),
    })
    write_json(directory / "special_tokens_map.json", {**tokens, **({"additional_special_tokens": extra} if extra else {})})
    shutil.copyfile(model_path, directory / model_path.name)
    shutil.copyfile(dict_path, directory / "dict.txt")
    write_json(directory / "manifest.json", provenance_record)
    return Tokenizer.load(directory)
