"""Entry point of the ``tokenizer`` stage: sample the sources, train, write ``tokenizers/<name>/``.

The folder is built under a temporary name and renamed when complete; its
``manifest.json`` (resolved config, corpus description, hash of the sample,
sizes, library versions, seed) is written last.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from workbench.artifacts.atomic import atomic_dir, write_json
from workbench.artifacts.provenance import provenance
from workbench.corpus.config import SourceConfig
from workbench.text.sampling import SamplingError, sample_lines
from workbench.text.sources import describe_files
from workbench.text.normalize import normalize_text
from workbench.tokenization.assemble import TrainedVocabulary, finish_pipeline, normalization_spec
from workbench.tokenization.config import ALGORITHMS, TokenizerConfig
from workbench.tokenization.errors import EmptyCorpusError, UnknownAlgorithmError
from workbench.tokenization.export import write_tokenizer_files
from workbench.tokenization.families import Family, get_family
from workbench.tokenization.tokenizer import MANIFEST_FILE, Tokenizer

# (config, sample lines, family): a trainer owns the list of lines and may empty it once it no longer needs them
Trainer = Callable[[TokenizerConfig, List[str], Family], TrainedVocabulary]


def _trainer(algorithm: str) -> Trainer:
    # Imported here so that a run only loads the libraries of its own algorithm.
    if algorithm == "wordpiece":
        from workbench.tokenization.train_wordpiece import train_wordpiece

        return train_wordpiece
    if algorithm in ("sentencepiece_unigram", "sentencepiece_bpe"):
        from workbench.tokenization.train_sentencepiece import train_sentencepiece

        return train_sentencepiece
    if algorithm == "moses_bpe":
        from workbench.tokenization.train_moses_bpe import train_moses_bpe

        return train_moses_bpe
    if algorithm == "byte_bpe":
        from workbench.tokenization.train_byte_bpe import train_byte_bpe

        return train_byte_bpe
    raise UnknownAlgorithmError(f"tokenizer.algorithm={algorithm!r} is not valid; choose one of: {', '.join(ALGORITHMS)}")


def train_tokenizer(
    config: TokenizerConfig,
    sources: Sequence[SourceConfig],
    out_dir: Path,
    corpus_description: Optional[Dict] = None,
) -> Path:
    """Train the vocabulary ``config`` describes on a seeded sample of ``sources``; returns ``out_dir``.

    Raises a ``ValueError`` subclass with a clear message on bad input (no source, empty corpus, unreachable
    vocabulary size, unknown algorithm, unreadable source); nothing is left half-written.
    """
    out_dir = Path(out_dir)
    trainer = _trainer(config.algorithm)
    family = get_family(config.special_tokens)
    started = time.perf_counter()
    try:
        sample = sample_lines(
            list(sources),
            config.sample_lines,
            config.seed,
            alpha=config.language_sampling_alpha,
            max_line_chars=config.max_line_chars,
        )
    except SamplingError as error:
        raise EmptyCorpusError(f"cannot train tokenizer {config.name!r}: {error}") from None
    sampled = time.perf_counter()
    spec = normalization_spec(config)
    if not any(normalize_text(line, spec) for line in sample.lines):  # stops at the first line with text
        raise EmptyCorpusError(
            f"cannot train tokenizer {config.name!r}: the {len(sample.lines)} sampled lines of"
            f" {describe_files(sources)} hold only characters the normalizer removes"
            " (control, invisible and format characters, whitespace); check corpus.sources"
        )
    description = sample.describe()
    lines, sample.lines = sample.lines, []
    trained = trainer(config, lines, family)  # may empty ``lines`` to free the raw sample while training
    del lines
    backend = finish_pipeline(trained.backend, family, config.vocab_size, config.algorithm)
    finished = time.perf_counter()
    with atomic_dir(out_dir, overwrite=True) as tmp:
        files = write_tokenizer_files(tmp, config, family, backend, trained)
        Tokenizer.load(tmp, require_manifest=False)  # the folder must load before it is declared finished
        sizes = {name: (tmp / name).stat().st_size for name in files}
        write_json(
            tmp / MANIFEST_FILE,
            provenance(
                config,
                artifact="tokenizer",
                seed=config.seed,
                corpus=corpus_description,
                sample=description,
                vocab_size=backend.get_vocab_size(with_added_tokens=True),
                files=sizes,
                timings_seconds={"sampling": round(sampled - started, 3), "training": round(finished - sampled, 3)},
            ),
        )
    return out_dir
