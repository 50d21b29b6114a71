"""Fixtures of the tokenization tests: tokenizers trained once per session on the shipped French sample."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from workbench.corpus.config import SourceConfig
from workbench.text.normalize import NormalizationSpec
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.train import train_tokenizer

# every combination of the normalizer's options
SPECS = [
    NormalizationSpec(unicode_form=form, lowercase=lower, strip_accents=strip, apostrophes=apostrophes)
    for form in ("NFC", "NFKC", "none")
    for lower in (False, True)
    for strip in (False, True)
    for apostrophes in (True, False)
]

# (algorithm, family) -> vocabulary size reachable on corpora/sample_fr (~150 KB)
VOCAB_SIZES = {
    ("wordpiece", "bert"): 3000,
    ("wordpiece", "roberta"): 3000,
    ("sentencepiece_bpe", "roberta"): 3000,
    ("sentencepiece_unigram", "roberta"): 3000,
    ("sentencepiece_unigram", "bert"): 3000,
    ("moses_bpe", "flaubert"): 3000,
    ("byte_bpe", "roberta"): 3000,
}


@pytest.fixture(scope="session")
def sample_sources(repo_root: Path) -> List[SourceConfig]:
    pattern = repo_root / "corpora" / "sample_fr" / "text"
    if not pattern.is_dir():
        pytest.skip(f"the shipped French sample corpus is missing ({pattern})")
    return [SourceConfig(path=str(pattern / "*.txt"))]


def make_config(algorithm: str, family: str, **overrides) -> TokenizerConfig:
    fields = dict(
        name=f"test-{algorithm}-{family}",
        algorithm=algorithm,
        special_tokens=family,
        vocab_size=VOCAB_SIZES.get((algorithm, family), 3000),
        sample_lines=100_000,
        character_coverage=1.0,  # the sample is tiny: keep ë, ï, Î (a handful of occurrences each)
    )
    fields.update(overrides)
    return TokenizerConfig(**fields)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, sample_sources) -> Callable[..., Path]:
    """trained(algorithm, family, **config overrides) -> folder, trained once per distinct arguments."""
    cache: Dict[Tuple, Path] = {}
    root = tmp_path_factory.mktemp("tokenizers")

    def get(algorithm: str, family: str, **overrides) -> Path:
        key = (algorithm, family, tuple(sorted(overrides.items())))
        if key not in cache:
            name = "-".join([algorithm, family, *(f"{k}={v}" for k, v in sorted(overrides.items()))])
            cache[key] = train_tokenizer(make_config(algorithm, family, **overrides), sample_sources, root / name)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def prose_lines(shared_data: Path) -> List[str]:
    """2000 real lines of 19th-century French novels (ELTeC), 50 from each of 40 books."""
    files = sorted((shared_data / "french_prose" / "eltec_fra_plain1").glob("FRA*.txt"))[:40]
    if not files:
        pytest.skip("french_prose/eltec_fra_plain1 has no novel files")
    lines: List[str] = []
    for path in files:
        with open(path, encoding="utf-8") as handle:
            kept = [line.rstrip("\n") for line in handle if line.strip()]
        lines.extend(kept[50:100])
    return lines
