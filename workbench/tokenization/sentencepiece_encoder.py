"""Ids of SentencePiece BPE vocabularies computed by `sentencepiece` itself, at its own speed.

A SentencePiece BPE folder's `tokenizers` pipeline (workbench's normalizer, Metaspace "▁", the converted BPE
model) gives exactly the ids SentencePiece gives on the normalized text (``train_sentencepiece``; tested on
real text), but 2x slower: most of the time goes to the `tokenizers` pipeline itself (normalizer, Metaspace,
per-token encodings), not to the merges. ``SentencePieceIds`` returns the same ids from the folder's own
``sentencepiece.model``, re-laid out so that its piece ids are the family's ids (the family's special tokens
as control pieces, the unknown piece at the family's unknown id): SentencePiece then outputs final ids with no
mapping pass. The text is normalized first by ``normalize_lines`` / ``normalize_line`` (the exact mirror of
the saved normalizer, which falls back to the normalizer itself where the mirror is not proven identical).

Unigram vocabularies are left to the `tokenizers` pipeline: both libraries pick the best-scored
segmentation, but break exact ties (e.g. "...." = "..." + "." or "." + "...") differently, and the
exported transformers tokenizer, ``prepare``'s shards and every other route use the `tokenizers` ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models

from workbench.text.normalize import NormalizationSpec, build_normalizer, normalize_line, normalize_lines

ALGORITHM = "sentencepiece_bpe"
_METASPACE = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}


def _normalizer_json(spec: NormalizationSpec) -> Dict:
    probe = HFTokenizer(models.BPE())
    probe.normalizer = build_normalizer(spec)
    return json.loads(probe.to_str())["normalizer"]


def _spec(meta: Dict) -> Optional[NormalizationSpec]:
    recorded = meta.get("normalization")
    if not isinstance(recorded, dict):
        return None
    try:
        return NormalizationSpec(unicode_form=recorded["unicode"], apostrophes=bool(recorded["apostrophes"]),
                                 lowercase=bool(recorded["lowercase"]), strip_accents=bool(recorded["strip_accents"]))
    except (KeyError, ValueError):
        return None


class SentencePieceIds:
    """``encode_batch(texts)``: the ids of already special-token-free texts, as the folder's pipeline gives them."""

    def __init__(self, processor: spm.SentencePieceProcessor, spec: NormalizationSpec) -> None:
        self.processor = processor
        self.spec = spec

    @classmethod
    def for_folder(cls, directory: Optional[Path], backend: HFTokenizer, meta: Dict) -> Optional["SentencePieceIds"]:
        """The fast encoder of a SentencePiece BPE folder, or None where its ids could differ from the pipeline's
        (another algorithm, no native model, a pipeline edited after training, a vocabulary that does not
        hold the model's pieces)."""
        if directory is None or meta.get("algorithm") != ALGORITHM or meta.get("pre_tokenizer") is not None:
            return None
        model_file = directory / str(meta.get("sentencepiece_model", ""))
        spec = _spec(meta)
        if spec is None or not meta.get("sentencepiece_model") or not model_file.is_file():
            return None
        pipeline = json.loads(backend.to_str())
        if (pipeline.get("model", {}).get("type") != "BPE" or pipeline.get("pre_tokenizer") != _METASPACE
                or pipeline.get("normalizer") != _normalizer_json(spec)):
            return None
        specials = {token.content for token in backend.get_added_tokens_decoder().values() if token.special}
        proto = _relaid(model_file.read_bytes(), backend, meta["special_tokens"]["unk"], specials)
        if proto is None:
            return None
        return cls(spm.SentencePieceProcessor(model_proto=proto), spec)

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        return self.processor.encode(normalize_lines(texts, self.spec))

    def encode(self, text: str) -> List[int]:
        return self.processor.encode(normalize_line(text, self.spec))


def _relaid(model_bytes: bytes, backend: HFTokenizer, unk: str, specials: Set[str]) -> Optional[bytes]:
    """The SentencePiece model with one piece per final id, in id order: the learned pieces (same strings, scores
    and types), the unknown piece at the family's unknown id, every other special token a control piece (never
    produced by encoding). None when the vocabulary is not the model's pieces plus special tokens."""
    proto = model_pb2.ModelProto()
    proto.ParseFromString(model_bytes)
    normal = model_pb2.ModelProto.SentencePiece.NORMAL
    learned = {piece.piece: piece for piece in proto.pieces if piece.type == normal}
    size = backend.get_vocab_size(with_added_tokens=True)
    tokens = [backend.id_to_token(index) for index in range(size)]
    if None in tokens or len(set(tokens)) != size or unk not in specials:
        return None
    if not set(learned) <= set(tokens) or not set(tokens) - set(learned) <= specials:
        return None
    relaid = model_pb2.ModelProto()
    relaid.CopyFrom(proto)
    del relaid.pieces[:]
    for token in tokens:
        piece = relaid.pieces.add()
        if token in learned:
            piece.CopyFrom(learned[token])
        else:
            piece.piece = token
            piece.score = 0.0
            piece.type = model_pb2.ModelProto.SentencePiece.UNKNOWN if token == unk else model_pb2.ModelProto.SentencePiece.CONTROL
    spec = relaid.trainer_spec
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = tokens.index(unk), -1, -1, -1
    spec.unk_piece = unk
    return relaid.SerializeToString()
