"""The quality report: numbers checked against direct counts, markdown, PNG and JSON written."""

from __future__ import annotations

import json

import pytest

from workbench.tokenization.report import ReportError, report_tokenizers
from workbench.tokenization.report_metrics import segmentation_stats
from workbench.tokenization.tokenizer import Tokenizer

HELD_OUT_FR = [
    "Aujourd'hui, l'hôpital est fermé ; qu'il vienne peut-être demain.",
    "Le chat dort sur le canapé pendant que Marie prépare le café.",
    "Anticonstitutionnellement, le Zèbre Xavier joue au Kayak à Wŏnju.",
    "",
]


def test_fertility_and_split_share_match_direct_counts(trained):
    tok = Tokenizer.load(trained("wordpiece", "bert"))
    stats = segmentation_stats(tok, HELD_OUT_FR)
    words = [word for line in HELD_OUT_FR for word in line.split()]
    per_word = [len(tok.encode(word)) for word in words]  # BERT splits punctuation: a word may give several
    assert stats.lines == 3 and stats.words == len(words)
    assert stats.tokens == sum(len(tok.encode(line)) for line in HELD_OUT_FR)
    assert stats.fertility == pytest.approx(sum(per_word) / len(words))
    assert stats.split_share == pytest.approx(sum(1 for n in per_word if n > 1) / len(words))
    unk = sum(tok.encode(line).count(tok.unk_id) for line in HELD_OUT_FR)
    assert stats.unk_rate == pytest.approx(unk / stats.tokens)
    assert unk >= 1 and stats.char_coverage < 1.0  # ŏ never occurs in the training sample
    assert stats.truncated == {128: 0.0, 512: 0.0}


def test_truncation_share(trained):
    tok = Tokenizer.load(trained("sentencepiece_bpe", "roberta"))
    long_line = " ".join(["maison"] * 200)  # 200 tokens + <s> </s>
    stats = segmentation_stats(tok, [long_line, "court", "aussi court", "encore court"])
    assert stats.truncated == {128: 0.25, 512: 0.0}


def test_report_files(trained, tmp_path):
    dirs = [trained("wordpiece", "bert"), trained("byte_bpe", "roberta"), trained("moses_bpe", "flaubert")]
    held_out = {"fr": HELD_OUT_FR, "en": ["The weather is fine today, isn't it?", "Kayaks and zebras."]}
    markdown = report_tokenizers(dirs, held_out, tmp_path / "report")
    text = markdown.read_text(encoding="utf-8")
    assert "## fr" in text and "## en" in text and "anticonstitutionnellement" in text
    rows = [line for line in text.splitlines() if line.startswith("| test-wordpiece-bert |")]
    assert len(rows) == 3  # summary + one row per language
    png = (tmp_path / "report" / "tokenizer_report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "report" / "tokenizer_report.json").read_text(encoding="utf-8"))
    byte_level = data["tokenizers"]["test-byte_bpe-roberta"]["languages"]["fr"]
    assert byte_level["unk_rate"] == 0.0 and byte_level["char_coverage"] == 1.0
    examples = data["tokenizers"]["test-moses_bpe-flaubert"]["examples"]
    assert examples["qu'il"][0] == "qu'</w>"  # Moses keeps French elisions attached to their article


def test_report_rejects_empty_inputs(trained, tmp_path):
    with pytest.raises(ReportError, match="no tokenizer folder"):
        report_tokenizers([], {"fr": ["x"]}, tmp_path)
    with pytest.raises(ReportError, match="no held-out text"):
        report_tokenizers([trained("wordpiece", "bert")], {"fr": ["", " "]}, tmp_path)


def test_report_stage_names_the_empty_heldout_files(trained, tmp_path):
    """From the command line: the held-out files are named, and the setting to change."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from workbench.config.store import register_configs
    from workbench.config.typed import CONF_DIR, to_typed
    from workbench.stages.tokenizer_report import compare_vocabularies

    (tmp_path / "empty.txt").write_text("\n  \n\t\n", encoding="utf-8")
    folder = trained("wordpiece", "bert")
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="tokenizer_report",
            overrides=[
                "tokenizer=sample_wordpiece", f"paths.tokenizers={folder.parent}", f"tokenizer_report.tokenizers=[{folder.name}]",
                f"tokenizer_report.heldout=[{{path: {tmp_path / 'empty.txt'}}}]", f"tokenizer_report.output_dir={tmp_path / 'out'}",
            ],
        )
    GlobalHydra.instance().clear()
    with pytest.raises(ReportError, match=r"no held-out text: no non-blank line in '.*empty\.txt'; set tokenizer_report\.heldout"):
        compare_vocabularies(to_typed(cfg))
    assert not (tmp_path / "out").exists()
