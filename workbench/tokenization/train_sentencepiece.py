"""SentencePiece unigram and BPE vocabularies (CamemBERT-style) trained with `sentencepiece`.

SentencePiece trains on the sample *after* workbench's normalizer (its own
normalization is switched off: rule ``identity``), so the saved `tokenizers`
pipeline -- same normalizer, Metaspace "▁" pre-tokenizer, the converted model --
reproduces SentencePiece's segmentation.

BPE trains on the sample's word counts (SentencePiece's ``tsv`` input,
``word<TAB>count``), unigram on its lines. SentencePiece's BPE trainer itself
splits every sentence on whitespace and trains on the resulting word counts
(sorted by count, then word), so it learns the same pieces with the same
scores in the same order (tested on real text; only the recorded trainer
options differ: ``input_format``); counting the words in Python
(``count_normalized_words``: each distinct word normalized once) costs less
than SentencePiece reading and splitting the lines, and the counts are the
ones dict.txt needs. Ids follow the family layout: the
SentencePiece control pieces (<unk>, <s>, </s>) are replaced by the family's
special tokens, the learned pieces keep SentencePiece's order.
"""

from __future__ import annotations

import io
import itertools
import operator
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Sequence, Tuple

import numpy as np
import sentencepiece as spm
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers

from workbench.artifacts.atomic import atomic_file
from workbench.tokenization.assemble import (
    NormalizedSample,
    TrainedVocabulary,
    check_reachable,
    normalization_spec,
    normalizer_for,
    release_free_memory,
)
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.errors import TokenizerTrainingError, VocabularySizeError
from workbench.tokenization.families import Family
from workbench.tokenization.fairseq_dict import write_dict_rows
from workbench.text.word_counts import count_normalized_words

UNCOUNTED = 100  # fairseq's SentencePiece recipe writes this constant when counts are not computed
SPM_CONTROL = 3  # <unk>=0 <s>=1 </s>=2 in the SentencePiece model
MODEL_FILE = "sentencepiece.model"
_TOO_HIGH = re.compile(r"Vocabulary size (?:is )?too high \((\d+)\)\. Please set it to a value <= (\d+)")


def spm_vocab_size(config: TokenizerConfig, family: Family) -> int:
    """SentencePiece's vocab_size giving exactly ``config.vocab_size`` ids once the family's specials are in."""
    return config.vocab_size - len(family.all_tokens) + SPM_CONTROL


def train_sentencepiece_model(config: TokenizerConfig, normalized_lines, family: Family, input_format: str = "text") -> bytes:
    """The serialized SentencePiece model trained on already-normalized lines (``input_format="tsv"``:
    ``text<TAB>count`` rows, each text counted ``count`` times)."""
    model_type = {"sentencepiece_unigram": "unigram", "sentencepiece_bpe": "bpe"}[config.algorithm]
    vocab_size = spm_vocab_size(config, family)
    check_reachable(config.vocab_size, len(family.all_tokens) + 1, "the special tokens")
    spm.set_random_generator_seed(config.seed)
    writer = io.BytesIO()
    log = open(os.devnull, "w")
    try:
        spm.SentencePieceTrainer.Train(
            logstream=log,
            minloglevel=1,  # warnings and errors only: its per-merge INFO lines bypass logstream
            sentence_iterator=iter(normalized_lines),
            input_format=input_format,
            model_writer=writer,
            model_type=model_type,
            vocab_size=vocab_size,
            character_coverage=config.character_coverage,
            normalization_rule_name="identity",
            add_dummy_prefix=True,
            remove_extra_whitespaces=False,  # done by the normalizer
            split_by_whitespace=True,
            byte_fallback=False,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            input_sentence_size=0,  # the sample is already drawn (seeded reservoir)
            shuffle_input_sentence=False,
            max_sentence_length=4 * config.max_line_chars,  # bytes
            num_threads=config.num_threads,
            hard_vocab_limit=True,
        )
    except RuntimeError as error:
        message = str(error)
        match = _TOO_HIGH.search(message)
        if match:
            reachable = int(match.group(2)) - SPM_CONTROL + len(family.all_tokens)
            raise VocabularySizeError(
                f"the sample cannot give tokenizer.vocab_size={config.vocab_size} with {config.algorithm}:"
                f" at most {reachable} are reachable; lower tokenizer.vocab_size or add text"
            ) from None
        raise TokenizerTrainingError(f"sentencepiece could not train a {model_type} model: {message.strip()}") from None
    finally:
        log.close()
    return writer.getvalue()


def _special(processor: spm.SentencePieceProcessor) -> List[bool]:
    """Whether each SentencePiece id, in order, is a control or the unknown piece (not a learned one)."""
    ids = list(range(processor.get_piece_size()))
    return [control or unknown for control, unknown in zip(processor.is_control(ids), processor.is_unknown(ids))]


def _pieces(processor: spm.SentencePieceProcessor) -> List[Tuple[str, float]]:
    """(piece, score) of every learned piece, in id order (control and unknown pieces left out)."""
    ids = list(range(processor.get_piece_size()))
    learned = [not special for special in _special(processor)]
    return list(itertools.compress(zip(processor.id_to_piece(ids), processor.get_score(ids)), learned))


def bpe_merges(vocab: Dict[str, int], scored_pieces: List[Tuple[str, float]]) -> List[Tuple[str, str]]:
    """BPE merges equivalent to SentencePiece's BPE segmentation.

    SentencePiece merges, at each step, the adjacent pair whose concatenation is the best-scored piece; every
    split of a piece into two known pieces is a merge ranked by that piece's score (same rule as transformers'
    SentencePieceExtractor).
    """
    per_piece: List[List[Tuple[str, str]]] = []
    for piece, _ in scored_pieces:
        local = [(piece[:cut], piece[cut:]) for cut in range(1, len(piece)) if piece[:cut] in vocab and piece[cut:] in vocab]
        if len(local) > 1:
            local.sort(key=lambda merge: (vocab[merge[0]], vocab[merge[1]]))
        per_piece.append(local)
    scores = [score for _, score in scored_pieces]
    if not all(map(operator.ge, scores, scores[1:])):  # SentencePiece's BPE scores already decrease with the id
        order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)  # stable: ties keep piece order
        per_piece = [per_piece[index] for index in order]
    return list(itertools.chain.from_iterable(per_piece))


def _to_ours(processor: spm.SentencePieceProcessor, vocab: Dict[str, int], unk_id: int) -> np.ndarray:
    """SentencePiece id -> final id (its control and unknown pieces -> ``unk_id``)."""
    pieces = processor.id_to_piece(list(range(processor.get_piece_size())))
    return np.array(
        [unk_id if is_special else vocab[piece] for piece, is_special in zip(pieces, _special(processor))], dtype=np.int64
    )


def word_piece_counts(
    processor: spm.SentencePieceProcessor, words: "WordCounts", vocab: Dict[str, int], unk_id: int, threads: int
) -> np.ndarray:
    """Occurrences of each final id when SentencePiece's BPE segments the (normalized) sample whose words
    are counted in ``words``: each distinct word is encoded once and its pieces counted as often as the word
    occurs. Exactly the line-by-line counts fairseq-preprocess takes from the sample encoded by
    ``spm_encode``: the lines are normalized (single spaces, no space at either end),
    so SentencePiece sees ``▁w1▁w2...``; with ``split_by_whitespace`` no piece holds a ``▁`` after its first
    character, so no pair across two words is ever in the vocabulary, and SentencePiece's BPE applies each
    word's merges in the same order whatever surrounds it (best score first, leftmost first among equals).
    Unigram models are counted line by line (``line_piece_counts``): their Viterbi sums scores along the
    whole line, so in theory a float rounding could break a tie differently than within a lone word.
    """
    to_ours = _to_ours(processor, vocab, unk_id)
    counts = np.zeros(len(vocab), dtype=np.int64)
    for distinct, occurrences in words.chunks():
        encoded = processor.encode(distinct, num_threads=threads)
        pieces_per_word = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int64, count=int(pieces_per_word.sum()))
        weights = np.repeat(occurrences, pieces_per_word)
        counts += np.bincount(to_ours[flat], weights=weights, minlength=len(vocab)).astype(np.int64)  # exact below 2**53
    return counts


def line_piece_counts(
    processor: spm.SentencePieceProcessor, blocks: Iterable[Sequence[str]], vocab: Dict[str, int], unk_id: int, threads: int
) -> np.ndarray:
    """Occurrences of each final id when SentencePiece segments the (normalized) sample given as blocks of
    lines, line by line: the counts fairseq-preprocess takes from the sample encoded by ``spm_encode``."""
    to_ours = _to_ours(processor, vocab, unk_id)
    counts = np.zeros(len(vocab), dtype=np.int64)
    for block in blocks:
        encoded = processor.encode(list(block), num_threads=threads)
        flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int64)
        if flat.size:
            counts += np.bincount(to_ours[flat], minlength=len(vocab))
    return counts


def _final_vocab(processor: spm.SentencePieceProcessor, family: Family) -> Tuple[List[Tuple[str, float]], List[str], Dict[str, int]]:
    """(learned pieces with scores, final tokens in id order, token -> id) in the family's layout."""
    pieces = _pieces(processor)
    tokens = family.layout([piece for piece, _ in pieces])
    if len(tokens) != len(family.all_tokens) + len(pieces):
        raise TokenizerTrainingError(
            "sentencepiece learned a piece that is also a special token of the family; this cannot be exported"
        )
    return pieces, tokens, {token: index for index, token in enumerate(tokens)}


class WordCounts:
    """The sample's word counts held compactly while SentencePiece trains: a few strings and one array
    instead of a dict of ~200k string keys (a third of the memory, freed in one piece)."""

    def __init__(self, counts: Counter, chunk_words: int = 10_000) -> None:
        distinct = list(counts)
        # no word holds a newline: the normalizer made every whitespace character a space
        self._chunks = ["\n".join(distinct[start : start + chunk_words]) for start in range(0, len(distinct), chunk_words)]
        self.occurrences = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))

    def chunks(self) -> Iterator[Tuple[List[str], np.ndarray]]:
        """(distinct words, their occurrences), ``chunk_words`` words at a time."""
        start = 0
        for chunk in self._chunks:
            words = chunk.split("\n")
            yield words, self.occurrences[start : start + len(words)]
            start += len(words)

    def rows(self) -> Iterator[str]:
        """SentencePiece's tsv input, ``word<TAB>count`` (no word holds a tab either), made a chunk at a time."""
        for words, occurrences in self.chunks():
            yield from map("{}\t{}".format, words, occurrences.tolist())


def train_sentencepiece(config: TokenizerConfig, lines: List[str], family: Family) -> TrainedVocabulary:
    """Train on the sample (the list is emptied once it is no longer needed). BPE: from the sample's word
    counts, which also give dict.txt's counts. Unigram: from the sample's normalized lines, streamed from a
    temporary file (see ``NormalizedSample``), which dict.txt's counts are taken from before it is removed."""
    normalizer = normalizer_for(config)
    counting = family.name == "roberta" and config.fairseq_dict_counts
    threads = os.cpu_count() or 1  # encoding for the counts: the sums do not depend on the thread count
    counts = None
    if config.algorithm == "sentencepiece_bpe":
        words = WordCounts(count_normalized_words(lines, normalization_spec(config)))
        lines.clear()
        release_free_memory()
        model_bytes = train_sentencepiece_model(config, words.rows(), family, input_format="tsv")
        release_free_memory()
        processor = spm.SentencePieceProcessor(model_proto=model_bytes)
        pieces, tokens, vocab = _final_vocab(processor, family)
        if counting:
            counts = word_piece_counts(processor, words, vocab, vocab[family.unk], threads)
        del words
    else:
        with tempfile.TemporaryDirectory(prefix="workbench-sentencepiece-") as folder:
            sample = NormalizedSample(lines, normalization_spec(config), Path(folder) / "sample.txt")
            # the lines stream from the file a block at a time (a path given to SentencePiece would be recorded
            # in the model, making its bytes depend on the temporary folder)
            model_bytes = train_sentencepiece_model(config, itertools.chain.from_iterable(sample.iter_blocks()), family)
            release_free_memory()
            processor = spm.SentencePieceProcessor(model_proto=model_bytes)
            pieces, tokens, vocab = _final_vocab(processor, family)
            if counting:
                counts = line_piece_counts(processor, sample.iter_blocks(), vocab, vocab[family.unk], threads)
    unk_id = vocab[family.unk]
    if config.algorithm == "sentencepiece_unigram":
        scores = dict(pieces)
        model = models.Unigram([(token, scores.get(token, 0.0)) for token in tokens], unk_id=unk_id, byte_fallback=False)
    else:
        model = models.BPE(
            vocab=vocab, merges=bpe_merges(vocab, pieces), unk_token=family.unk, fuse_unk=True, byte_fallback=False
        )
    backend = HFTokenizer(model)
    backend.normalizer = normalizer
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)

    def write_native(directory: Path) -> List[str]:
        with atomic_file(directory / MODEL_FILE, "wb") as handle:
            handle.write(model_bytes)
        written = [MODEL_FILE]
        if family.name == "roberta":
            written.append(write_dict_rows(directory, tokens, counts if counts is not None else np.full(len(tokens), UNCOUNTED, dtype=np.int64), family))
        return written

    return TrainedVocabulary(backend, write_native, extra_meta={"sentencepiece_model": MODEL_FILE})
