"""The manifest of a finished shard set: what ``prepare`` wrote, its counts and its provenance."""

from __future__ import annotations

from typing import Dict, Iterable, List

from workbench.artifacts.provenance import provenance
from workbench.corpus.cleaning import split_counts
from workbench.corpus.config import CorpusConfig, PackingConfig
from workbench.corpus.identity import tokenizer_identity
from workbench.corpus.mixing import smoothed_probabilities
from workbench.corpus.packing import Packer, SpecialLayout
from workbench.corpus.progress import Progress
from workbench.corpus.shards import SPLITS, token_dtype
from workbench.corpus.word_cache import word_decomposable
from workbench.text.sources import resolve_files
from workbench.tokenization.tokenizer import Tokenizer

FORMAT_VERSION = 1


def shard_extras(languages: List[str], mode: str) -> List[str]:
    """The per-sequence arrays written beside the tokens: language ids (several languages), NSP labels and
    token types (sentence_pairs)."""
    extras: List[str] = []
    if len(languages) > 1:
        extras.append("lang")
    if mode == "sentence_pairs":
        extras.append("nsp")
        extras.append("types")
    return extras


def input_listing(corpus: CorpusConfig) -> List[Dict]:
    listing = []
    for source in corpus.sources:
        entry: Dict = {"path": source.path, "kind": source.kind, "language": source.language}
        if source.kind in ("text", "jsonl"):
            files = resolve_files(source.path)
            entry["files"] = len(files)
            entry["bytes"] = sum(f.stat().st_size for f in files)
        listing.append(entry)
    return listing


def shard_manifest(identity: Dict, corpus: CorpusConfig, packing: PackingConfig, tokenizer: Tokenizer, languages: List[str],
                   progress: Progress, packers: Iterable[Packer]) -> Dict:
    """The manifest of the shard set ``progress`` finished (``packers``: their packing statistics)."""
    dropped, other = split_counts(progress.counts)
    for packer in packers:
        for key, value in packer.stats.items():
            other[key] = other.get(key, 0) + value
    splits = {}
    for split in SPLITS:
        records = progress.records[split]
        splits[split] = {
            "documents": progress.split_counts[split]["documents"],
            "sequences": sum(r["sequences"] for r in records),
            "tokens": sum(r["tokens"] for r in records),
            "sequences_per_language": {languages[k]: v for k, v in sorted(progress.lang_sequences[split].items())},
            "shards": records,
        }
    weighted: Dict[str, float] = {lang: 0.0 for lang in languages}
    for source_id, tokens in progress.source_tokens.items():
        source = corpus.sources[int(source_id)]
        weighted[source.language] += source.weight * tokens
    q = smoothed_probabilities(weighted, corpus.language_sampling_alpha)
    total = sum(weighted.values()) or 1.0
    sampling = {lang: {"weighted_tokens": weighted[lang], "p": weighted[lang] / total, "q": q[lang]} for lang in languages}
    layout = SpecialLayout(tokenizer.cls_id, tokenizer.sep_id, tokenizer.family)
    return provenance(
        identity,
        format="workbench-shards",
        format_version=FORMAT_VERSION,
        dtype=str(token_dtype(tokenizer.vocab_size)),
        vocab_size=tokenizer.vocab_size,
        tokenizer={**tokenizer_identity(tokenizer), "directory": str(tokenizer.directory)},
        special_ids={
            "pad": tokenizer.pad_id,
            "cls": tokenizer.cls_id,
            "sep": tokenizer.sep_id,
            "mask": tokenizer.mask_id,
            "unk": tokenizer.unk_id,
        },
        packing={"mode": packing.mode, "max_seq_len": packing.max_seq_len},
        languages=languages,
        extras=shard_extras(languages, packing.mode),
        token_type_ids=packing.mode == "sentence_pairs" and layout.uses_token_types,
        splits=splits,
        counts=other,
        dropped=dropped,
        language_sampling={"alpha": corpus.language_sampling_alpha, "languages": sampling},
        inputs=input_listing(corpus),
        num_workers=packing.num_workers,
        encoding="word_cache" if word_decomposable(tokenizer) else "encode_batch",
    )
