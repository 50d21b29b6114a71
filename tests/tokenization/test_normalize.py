"""The normalizer saved in every pipeline: French text survives, every change is explicit."""

from __future__ import annotations

import pytest

from tests.tokenization.conftest import SPECS
from workbench.text.normalize import NormalizationSpec, normalize_text


def test_accents_survive_cased_and_uncased():
    text = "ÉLÈVE à l'hôpital, Noël où ça GARÇON Œuvre"
    assert normalize_text(text, NormalizationSpec()) == text
    assert normalize_text(text, NormalizationSpec(lowercase=True)) == "élève à l'hôpital, noël où ça garçon œuvre"


def test_strip_accents_only_when_asked():
    assert normalize_text("Élève à l'hôpital", NormalizationSpec(strip_accents=True)) == "Eleve a l'hopital"
    assert normalize_text("Élève", NormalizationSpec(lowercase=True, strip_accents=True)) == "eleve"


def test_unicode_forms():
    decomposed = "e\u0301te\u0301"  # é written as e + combining acute
    assert normalize_text(decomposed, NormalizationSpec(unicode_form="NFC")) == "été"
    assert normalize_text("ﬁn ²", NormalizationSpec(unicode_form="NFC")) == "ﬁn ²"
    assert normalize_text("ﬁn ²", NormalizationSpec(unicode_form="NFKC")) == "fin 2"
    assert normalize_text(decomposed, NormalizationSpec(unicode_form="none")) == decomposed


def test_apostrophes_elisions():
    assert normalize_text("l’hôpital qu’il aujourd’hui", NormalizationSpec()) == "l'hôpital qu'il aujourd'hui"
    assert normalize_text("l\u02bcami", NormalizationSpec()) == "l'ami"
    assert normalize_text("l’hôpital", NormalizationSpec(apostrophes=False)) == "l’hôpital"


def test_non_breaking_spaces_and_whitespace():
    text = "Hé\u00a0! Quoi\u202f? «\u00a0Oui\u00a0» a\tb\n c  \u2009d "
    assert normalize_text(text, NormalizationSpec()) == "Hé ! Quoi ? « Oui » a b c d"


def test_control_and_invisible_characters_removed():
    assert normalize_text("a\x00b\x07c\u200bd\ufeffe\u00adf\x85g", NormalizationSpec()) == "abcdef g"


def test_bad_unicode_form():
    with pytest.raises(ValueError, match="NFKD"):
        NormalizationSpec(unicode_form="NFKD")




@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_fast_mirror_is_identical_on_its_ranges(spec):
    from workbench.text.normalize import FAST_PATH_RANGES, normalize_lines, normalize_text_fast

    for first, last in FAST_PATH_RANGES:
        for code in range(first, last + 1):
            char = chr(code)
            for text in (char, f"a{char}b", f" É{char} ", f"e{char}\u0301"):
                assert normalize_text_fast(text, spec) == normalize_text(text, spec), (hex(code), text)
    # characters outside the ranges take the slow path
    assert normalize_lines(["\ua7cb", "\u302e"], spec) == [normalize_text("\ua7cb", spec), normalize_text("\u302e", spec)]


def test_training_normalization_equals_the_saved_normalizer_on_real_text(prose_lines):
    from workbench.text.normalize import normalize_lines

    extra = ["ΣΟΦΟΣ καί ΟΔΟΣ", "日本語テキスト ﾃｽﾄ ㋿", "Ꞌ ꟋꟌ Ᲊ", "a\u0488b c\u20ddd", "x\x00\ufeff\u00a0 y\u3000z"]
    for spec in (NormalizationSpec(), NormalizationSpec(unicode_form="NFKC", lowercase=True, strip_accents=True)):
        lines = prose_lines + extra
        assert normalize_lines(lines, spec) == [normalize_text(line, spec) for line in lines]
