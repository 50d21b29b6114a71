"""SentencePiece BPE folders encode through sentencepiece itself (``SentencePieceIds``): the same ids as the
`tokenizers` pipeline (what transformers and ``prepare`` use) and as sentencepiece's own encoder, on real text;
texts holding special-token strings, and folders whose pipeline is not the one trained, take the pipeline."""

from __future__ import annotations

import json
import shutil

import sentencepiece as spm

from tests.tokenization.test_parity import EDGE_CASES
from workbench.tokenization.sentencepiece_encoder import SentencePieceIds
from workbench.tokenization.tokenizer import Tokenizer

SPECIAL_CASES = ["<mask>", " <mask> ", "a<pad>b", "Le <mask> est  bleu\u00a0!", "</s></s>", "<s> début", "fin </s>"]


def _pipeline_ids(tokenizer: Tokenizer, lines):
    return [encoding.ids for encoding in tokenizer.backend.encode_batch(lines, add_special_tokens=False)]


def test_sentencepiece_bpe_ids_are_sentencepiece_s_and_the_pipeline_s(trained, prose_lines):
    folder = trained("sentencepiece_bpe", "roberta")
    ours = Tokenizer.load(folder)
    assert isinstance(ours._sentencepiece, SentencePieceIds)
    lines = prose_lines + EDGE_CASES + SPECIAL_CASES
    interleaved = [line for pair in zip(lines, SPECIAL_CASES * (len(lines) // len(SPECIAL_CASES))) for line in pair]
    for batch in (lines, interleaved):
        encoded = ours.encode_batch(batch)
        assert encoded == _pipeline_ids(ours, batch)
    assert [ours.encode(line) for line in lines] == _pipeline_ids(ours, lines)  # one text at a time (embed, fill-mask)

    # sentencepiece's own encoder with the folder's own model, its ids mapped to the family's by piece string
    processor = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    plain = [line for line in lines if "<" not in line]  # sentencepiece knows no special strings
    own = processor.encode([ours.normalize(line) for line in plain])
    mapped = [[ours.unk_id if processor.is_unknown(i) else ours.token_to_id(processor.id_to_piece(i)) for i in ids] for ids in own]
    assert ours.encode_batch(plain) == mapped
    assert sum(map(len, mapped)) > 50_000 and any(ours.unk_id in ids for ids in mapped)  # real text, unknowns included


def test_other_pipelines_keep_the_tokenizers_route(trained, prose_lines, tmp_path):
    folder = trained("sentencepiece_bpe", "roberta")
    edited = tmp_path / "edited"
    shutil.copytree(folder, edited)
    pipeline = json.loads((edited / "tokenizer.json").read_text(encoding="utf-8"))
    pipeline["normalizer"]["normalizers"].append({"type": "Lowercase"})  # edited after training
    (edited / "tokenizer.json").write_text(json.dumps(pipeline), encoding="utf-8")
    lowered = Tokenizer.load(edited)
    assert lowered._sentencepiece is None
    assert lowered.encode_batch(prose_lines[:200]) == _pipeline_ids(lowered, prose_lines[:200])
    assert lowered.encode("ÉTÉ") == lowered.encode("été")
    for algorithm, family in (("sentencepiece_unigram", "roberta"), ("wordpiece", "bert")):
        assert Tokenizer.load(trained(algorithm, family))._sentencepiece is None
    (edited / "sentencepiece.model").unlink()
    shutil.copy(folder / "tokenizer.json", edited / "tokenizer.json")
    assert Tokenizer.load(edited)._sentencepiece is None  # no native model: the pipeline
