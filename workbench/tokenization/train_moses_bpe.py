"""FlauBERT-style vocabularies: Moses pre-tokenization for French, then BPE with "</w>" end-of-word marks.

The sample goes through ``MosesPreTokenizer`` (transformers' FlaubertTokenizer
preprocessing, step for step) and `tokenizers`' BPE trainer learns merges on the
Moses tokens. Files written besides tokenizer.json:

- ``vocab.json`` + ``merges.txt``: what transformers' FlaubertTokenizer reads
  (tokenizer_config.json names that class), so AutoTokenizer gives the same ids;
- ``codes``: the merges in fastBPE/XLM format (``left right count``); the count
  column is the number of occurrences of the merged symbol when the training
  sample is segmented with the final vocabulary (XLM and fastBPE only read the
  order of the lines);
- ``vocab``: the XLM dictionary (``token count``, "@@" marking word-internal
  pieces), ids = line number + 14 after XLM's <s> </s> <pad> <unk> <special0-9>.
"""

from __future__ import annotations

import json
from multiprocessing import get_context
from pathlib import Path
from typing import List, Sequence

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from workbench.artifacts.atomic import write_text
from workbench.tokenization.assemble import CHUNK_LINES, CharacterCounts, TrainedVocabulary, check_reachable, kept_alphabet
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.errors import EmptyCorpusError
from workbench.tokenization.fairseq_dict import token_counts
from workbench.tokenization.families import Family
from workbench.tokenization.moses import MosesPreTokenizer

SUFFIX = "</w>"
_PARALLEL_THRESHOLD = 20_000  # lines; below this a process pool costs more than it saves
_worker: MosesPreTokenizer | None = None


def _init_worker(lowercase: bool) -> None:
    global _worker
    _worker = MosesPreTokenizer(lowercase=lowercase)


def _moses_line(line: str) -> str:
    assert _worker is not None
    return " ".join(_worker(line))


def moses_tokenize_lines(lines: Sequence[str], lowercase: bool, workers: int) -> List[str]:
    """Each line as its Moses tokens joined by spaces (order kept; ``workers`` processes for large samples)."""
    if workers <= 1 or len(lines) < _PARALLEL_THRESHOLD:
        _init_worker(lowercase)
        return [_moses_line(line) for line in lines]
    with get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(lowercase,)) as pool:
        return list(pool.imap(_moses_line, lines, chunksize=2_000))


def complete_alphabet(learned: List[str], merges: List[tuple], family: Family) -> tuple:
    """Give every kept character both forms, ``c`` (inside a word) and ``c</w>`` (word-final).

    The trainer only creates ``É</w>`` if a word ended with É, so "ÉTÉ" would get an unknown token. The
    missing forms replace the last merges (the least frequent merged tokens), keeping the configured size
    and a consistent merge table.
    """
    specials = set(family.all_tokens)
    present = set(learned)
    chars = {token for token in learned if len(token) == 1 and token not in specials}
    chars |= {token[: -len(SUFFIX)] for token in learned if token.endswith(SUFFIX) and len(token) == len(SUFFIX) + 1}
    missing = sorted(form for char in chars for form in (char, char + SUFFIX) if form not in present)
    if not missing:
        return learned, merges
    if len(missing) > len(merges):
        return learned + missing, merges  # the size check reports the shortfall
    dropped = merges[-len(missing) :]
    dropped_tokens = {left + right for left, right in dropped}
    kept_merges = merges[: -len(missing)]
    still_needed = {left + right for left, right in kept_merges}
    kept = [token for token in learned if token not in dropped_tokens or token in still_needed]
    return kept + missing, kept_merges


def _bpe_backend(vocab: dict, merges: list, family: Family) -> HFTokenizer:
    backend = HFTokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token=family.unk, end_of_word_suffix=SUFFIX, fuse_unk=False)
    )
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # input is already Moses-tokenized
    backend.decoder = decoders.BPEDecoder(suffix=SUFFIX)
    return backend


def train_moses_bpe(config: TokenizerConfig, lines: Sequence[str], family: Family) -> TrainedVocabulary:
    check_reachable(config.vocab_size, len(family.all_tokens) + 1, "the special tokens")
    tokenized = [line for line in moses_tokenize_lines(lines, config.lowercase, config.num_threads) if line]
    if not tokenized:
        raise EmptyCorpusError(
            f"cannot train tokenizer {config.name!r}: no Moses token in the {len(lines)} sampled lines (Moses removes"
            " every control, format, private-use and unassigned character); check corpus.sources"
        )
    chars = CharacterCounts()
    for start in range(0, len(tokenized), CHUNK_LINES):
        chars.add("".join(tokenized[start : start + CHUNK_LINES]))
    alphabet = kept_alphabet(chars.as_counter(exclude=" "), config.character_coverage)
    limit_alphabet = len(alphabet)
    learner = HFTokenizer(models.BPE(unk_token=family.unk, end_of_word_suffix=SUFFIX))
    learner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # "c</w>" symbols would get ids in hash-map order (merge ties then break differently from run to run);
    # declaring them up front, sorted, makes training deterministic. They are needed anyway (complete_alphabet).
    word_final = sorted(char + SUFFIX for char in alphabet)
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        show_progress=False,
        special_tokens=[*family.all_tokens, *word_final],
        limit_alphabet=limit_alphabet or None,
        end_of_word_suffix=SUFFIX,
    )
    learner.train_from_iterator(tokenized, trainer=trainer, length=len(tokenized))
    model = json.loads(learner.to_str())["model"]
    learned = [token for token, _ in sorted(model["vocab"].items(), key=lambda item: item[1])]
    merges = [tuple(merge) if isinstance(merge, list) else tuple(merge.split(" ")) for merge in model["merges"]]
    learned, merges = complete_alphabet(learned, merges, family)
    tokens = family.layout(learned)
    vocab = {token: index for index, token in enumerate(tokens)}
    backend = _bpe_backend(vocab, merges, family)

    def write_native(directory: Path) -> List[str]:
        write_text(directory / "vocab.json", json.dumps(vocab, ensure_ascii=False, indent=1) + "\n")
        write_text(directory / "merges.txt", "".join(f"{left} {right}\n" for left, right in merges))
        counts = token_counts(backend, tokenized)
        write_text(
            directory / "codes",
            "".join(f"{left} {right} {int(counts[vocab[left + right]])}\n" for left, right in merges),
        )
        first = len(family.leading)
        rows = []
        for token in tokens[first:]:
            xlm = token[: -len(SUFFIX)] if token.endswith(SUFFIX) else token + "@@"
            rows.append(f"{xlm} {int(counts[vocab[token]])}\n")
        write_text(directory / "vocab", "".join(rows))
        return ["vocab.json", "merges.txt", "codes", "vocab"]

    return TrainedVocabulary(
        backend,
        write_native,
        pre_tokenizer="moses",
        extra_meta={
            "transformers_class": "FlaubertTokenizer",
            "transformers_kwargs": {"do_lowercase": config.lowercase},
            "alphabet_size": limit_alphabet,
        },
    )
