"""The tokenizer report's held-out text is not its training text: by default the validation side of the corpus
(prepare's document-hash rule), an explicit held-out file a tokenizer was trained on is refused; empty panels say why."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from workbench.corpus.cleaning import CleaningRules, clean_document, text_hashes, validation_mask
from workbench.text.sources import iter_source_documents
from workbench.tokenization.report import PLOT_PANELS, ReportError, plot_figure
from workbench.tokenization.report_metrics import segmentation_stats
from workbench.tokenization.tokenizer import Tokenizer


def _config(tokenizer_dir, out, *overrides):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from workbench.config.store import register_configs
    from workbench.config.typed import CONF_DIR, to_typed

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="tokenizer_report", overrides=[
            "tokenizer=sample_wordpiece", f"paths.tokenizers={tokenizer_dir.parent}",
            f"tokenizer_report.tokenizers=[{tokenizer_dir.name}]", f"tokenizer_report.output_dir={out}", *overrides])
    GlobalHydra.instance().clear()
    return to_typed(cfg)


def test_default_heldout_is_the_validation_side_of_the_corpus(trained, tmp_path, repo_root, monkeypatch):
    from workbench.stages.tokenizer_report import compare_vocabularies, heldout_text

    monkeypatch.chdir(repo_root)  # corpus=sample_fr names its files relative to the project
    cfg = _config(trained("wordpiece", "bert"), tmp_path / "out", "corpus.validation_fraction=0.3")
    lines, note = heldout_text(cfg, [])
    # prepare's own (vectorised) rule on every document of the sample: cleaned lines, their hash, the mask
    rules = CleaningRules()
    documents = [clean_document(d.text, rules, {}) for s in cfg.corpus.sources for d in iter_source_documents(s, "blank_line")]
    valid = validation_mask(text_hashes(["\n".join(d) for d in documents]), 0.3)
    held = [line for doc, v in zip(documents, valid) if v for line in doc]
    trained_side = {line for doc, v in zip(documents, valid) if not v for line in doc}
    assert 0 < np.count_nonzero(valid) < len(documents)
    assert lines == {"fr": held[: cfg.tokenizer_report.max_lines]} and not set(lines["fr"]) - set(held)
    assert not set(lines["fr"]) & trained_side - set(held)  # no line of a training-side document
    assert "validation side of corpus sample_fr" in note
    text = compare_vocabularies(cfg).read_text(encoding="utf-8")
    assert "Held-out text: the validation side of corpus sample_fr" in text
    assert f"| test-wordpiece-bert | {len(held)} |" in text  # the fr row counts the held-out lines only


def test_heldout_that_is_training_text_is_refused(trained, tmp_path, repo_root):
    from workbench.stages.tokenizer_report import compare_vocabularies

    folder = tmp_path / "tokenizers" / "trained-on-sample"
    shutil.copytree(trained("wordpiece", "bert"), folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    sample = repo_root / "corpora" / "sample_fr" / "text"
    manifest["corpus"] = {"corpus": "sample_fr", "sources": [str(sample / "*.txt")]}  # what the tokenizer stage records
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    cfg = _config(folder, tmp_path / "out", f"tokenizer_report.heldout=[{{path: {sample / '02_cuisine.txt'}}}]")
    with pytest.raises(ReportError, match=r"tokenizer_report.heldout '.*02_cuisine.txt' is training text:"
                                          r" trained-on-sample was trained on .*02_cuisine.txt"):
        compare_vocabularies(cfg)
    assert not (tmp_path / "out").exists()
    other = tmp_path / "unseen.txt"
    other.write_text("Une phrase que le tokenizer n'a jamais vue.\n", encoding="utf-8")
    cfg = _config(folder, tmp_path / "out", f"tokenizer_report.heldout=[{{path: {other}}}]")
    assert "Held-out text: tokenizer_report.heldout" in compare_vocabularies(cfg).read_text(encoding="utf-8")


def test_an_all_zero_panel_says_why_it_is_empty(trained):
    tokenizer = Tokenizer.load(trained("byte_bpe", "roberta"))  # byte-level: no unknown token can occur
    stats = {"byte": {"fr": segmentation_stats(tokenizer, ["Le chat dort sur le canapé.", "Il pleut."])}}
    assert stats["byte"]["fr"].unk_rate == 0.0 and stats["byte"]["fr"].fertility > 0
    figure = plot_figure(stats)
    texts = {axis.get_title(): [t.get_text() for t in axis.texts] for axis in figure.axes}
    titles = [title for title, _, _ in PLOT_PANELS]
    assert texts[titles[0]] == []  # fertility has bars
    assert "byte-level vocabularies have no unknown token" in texts[titles[2]][0]
    assert "no held-out line is longer than 128 tokens" in texts[titles[3]][0]
