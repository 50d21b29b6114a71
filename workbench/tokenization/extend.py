"""Vocabulary extension: frequent words of a new corpus that a tokenizer splits into pieces become single tokens.

Words are the tokenizer's own pre-tokens (its normalizer and pre-tokenizer applied: ``▁mot`` for
SentencePiece-style vocabularies, ``Ġmot`` for byte-level BPE, ``mot`` for WordPiece), so that a new entry is
exactly what the model sees. A candidate is a pre-token seen at least ``MIN_COUNT`` times that the model splits
into two or more pieces; candidates are ranked by the pieces they save (``count x (pieces - 1)``, ties by the word),
and added to the model itself, at ids after the existing ones, so the ``tokenizer.json`` that ``AutoTokenizer`` reads
gives them with no added-token rules:

- WordPiece: the word joins the vocabulary (greedy longest match takes it whole);
- Unigram: the piece joins with the score of the most likely existing piece (Viterbi prefers it to any split);
- BPE: merges that build the word from its current pieces are appended after every existing merge (so every
  word segments as before until then), with the intermediate pieces they create, which count against the
  budget. These merges may also join the same pieces inside other words: their new pieces start from means too.

``pieces[i]`` are the ids of new entry ``i`` under the old tokenizer: what its embedding is initialised from.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

from tokenizers import Tokenizer as HFTokenizer

from workbench.tokenization.tokenizer import Tokenizer, TokenizerError

MIN_COUNT = 2  # a word seen once is no evidence of a domain's vocabulary
SUPPORTED_MODELS = ("WordPiece", "Unigram", "BPE")


@dataclass
class ExtendedTokenizer:
    backend_json: str  # the extended tokenizer.json
    tokens: List[str]  # new entries, in id order (ids old_size, old_size + 1, ...)
    pieces: List[List[int]]  # per new entry, its ids under the old tokenizer


def count_pre_tokens(tokenizer: Tokenizer, lines: Iterable[str]) -> Counter:
    """Occurrences of each pre-token of ``lines`` as ``tokenizer``'s normalizer and pre-tokenizer give them."""
    if tokenizer.pre_tokenizer is not None:
        raise TokenizerError(
            f"{tokenizer.directory or 'the tokenizer'}: vocabulary extension does not support the {tokenizer.pre_tokenizer}"
            " pre-tokenizer (Moses+BPE); drop init_from_extend_vocab"
        )
    backend = tokenizer.backend
    normalizer, pre_tokenizer = backend.normalizer, backend.pre_tokenizer
    counts: Counter = Counter()
    for line in lines:
        text = normalizer.normalize_str(line) if normalizer is not None else line
        if pre_tokenizer is None:
            counts.update(text.split())
        else:
            counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(text))
    return counts


def _candidates(backend: HFTokenizer, counts: Counter) -> List[Tuple[str, List[str], List[int]]]:
    """(word, pieces, piece ids) of the words worth adding, best first."""
    vocab = backend.get_vocab(with_added_tokens=True)
    ranked = []
    for word, count in counts.items():
        if count < MIN_COUNT or word in vocab:
            continue
        tokens = backend.model.tokenize(word)
        if len(tokens) < 2:
            continue
        ranked.append((-count * (len(tokens) - 1), word, [t.value for t in tokens], [t.id for t in tokens]))
    ranked.sort()
    return [(word, values, ids) for _, word, values, ids in ranked]


def _check_ids(model: Dict, vocab_size: int, entries: int, source: str) -> None:
    if entries != vocab_size:
        raise TokenizerError(
            f"{source}: its {model['type']} vocabulary has {entries} entries but the tokenizer {vocab_size} ids"
            " (added tokens outside the model's vocabulary); vocabulary extension needs them to agree:"
            " drop init_from_extend_vocab"
        )


def _merge_pair(merges: List, pair: Tuple[str, str]):
    """A merge in the file's own format ("a b" strings in older tokenizer.json files, [a, b] lists in newer)."""
    if merges and isinstance(merges[0], str):
        return f"{pair[0]} {pair[1]}"
    return [pair[0], pair[1]]


def _bpe_segment(pieces: List[str], ranks: Dict[Tuple[str, str], int]) -> List[str]:
    """BPE from a word's old segmentation on with the merge ``ranks``: exact, since new merges rank after every
    old one and so fire only once no old merge applies (the old segmentation)."""
    pieces = list(pieces)
    while len(pieces) > 1:
        best = min(range(len(pieces) - 1), key=lambda i: ranks.get((pieces[i], pieces[i + 1]), 1 << 62))
        if (pieces[best], pieces[best + 1]) not in ranks:
            break
        pieces[best : best + 2] = [pieces[best] + pieces[best + 1]]
    return pieces


def extend_tokenizer(tokenizer: Tokenizer, counts: Counter, budget: int) -> ExtendedTokenizer:
    """At most ``budget`` new vocabulary entries from the pre-token ``counts`` (see the module docstring)."""
    backend = tokenizer.backend
    data = json.loads(backend.to_str())
    model = data["model"]
    kind = model.get("type")
    source = str(tokenizer.directory or "the tokenizer")
    if kind not in SUPPORTED_MODELS:
        raise TokenizerError(f"{source}: vocabulary extension supports {', '.join(SUPPORTED_MODELS)} models, not {kind}")
    size = backend.get_vocab_size(with_added_tokens=True)
    tokens: List[str] = []
    pieces: List[List[int]] = []
    candidates = _candidates(backend, counts)
    if kind == "WordPiece":
        if max(model["vocab"].values()) + 1 != size:
            _check_ids(model, size, max(model["vocab"].values()) + 1, source)
        for word, _, ids in candidates[:budget]:
            model["vocab"][word] = size + len(tokens)
            tokens.append(word)
            pieces.append(ids)
    elif kind == "Unigram":
        _check_ids(model, size, len(model["vocab"]), source)
        score = max(s for piece, s in model["vocab"] if backend.token_to_id(piece) not in tokenizer.special_ids)
        for word, _, ids in candidates[:budget]:
            model["vocab"].append([word, score])
            tokens.append(word)
            pieces.append(ids)
    else:
        if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
            raise TokenizerError(f"{source}: BPE with a subword prefix or suffix is not supported by vocabulary extension")
        if max(model["vocab"].values()) + 1 != size:
            _check_ids(model, size, max(model["vocab"].values()) + 1, source)
        merges = model["merges"]
        ranks = {(tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)): i for i, m in enumerate(merges)}
        old_ids = {piece: [i] for piece, i in model["vocab"].items()}
        for word, values, _ in candidates:
            current = _bpe_segment(values, ranks)
            chain = []  # the merges joining current[0] .. current[k] left to right, and the pieces they make
            built = current[0]
            for piece in current[1:]:
                chain.append((built, piece, built + piece))
                built += piece
            new = [made for _, _, made in chain if made not in model["vocab"] and made not in tokens]
            if not chain or len(tokens) + len(new) > budget:
                continue
            for left, right, made in chain:
                if (left, right) not in ranks:
                    ranks[(left, right)] = len(merges)
                    merges.append(_merge_pair(merges, (left, right)))
                if made not in model["vocab"]:
                    model["vocab"][made] = size + len(tokens)
                    old_ids[made] = old_ids[left] + old_ids[right]
                    tokens.append(made)
                    pieces.append(old_ids[made])
            if len(tokens) >= budget:
                break
    extended = json.dumps(data, ensure_ascii=False, indent=2)
    check = HFTokenizer.from_str(extended)
    for index, token in enumerate(tokens):  # every entry got the id after the old ones
        if check.token_to_id(token) != size + index:
            raise TokenizerError(f"{source}: new token {token!r} did not get id {size + index}")
    return ExtendedTokenizer(extended, tokens, pieces)
