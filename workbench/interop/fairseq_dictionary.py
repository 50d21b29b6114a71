"""fairseq's ``Dictionary`` as loaded from ``dict.txt``, reproduced exactly (no fairseq import).

``Dictionary()`` starts with ``<s> <pad> </s> <unk>`` (indices 0-3: bos, pad, eos, unk), then appends one
symbol per ``dict.txt`` line ``<symbol> <count> [#fairseq:overwrite]``. A symbol already present is an error
unless the line carries ``#fairseq:overwrite``: then it gets a NEW index and the lookup of that string
points there from now on (the earlier index stays, unreachable by lookup). The released CamemBERT
``dict.txt`` overwrites ``<unk> <s> </s>`` this way, so fairseq's ``encode`` maps the string ``<s>`` to 5
and ``</s>`` to 6 while ``bos()``/``eos()`` stay 0 and 2 (transformers' CamemBERT reproduces this and calls
0 and 2 ``<s>NOTUSED`` / ``</s>NOTUSED``). The ``masked_lm`` task and RoBERTa's hub interface then call
``add_symbol("<mask>")``, which appends ``<mask>`` unless the string is already known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

from workbench.interop.hf_config import InteropError

FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
OVERWRITE_FLAG = "#fairseq:overwrite"
MASK = "<mask>"


@dataclass
class FairseqDictionary:
    symbols: List[str] = field(default_factory=lambda: list(FAIRSEQ_SPECIALS))
    counts: List[int] = field(default_factory=lambda: [1, 1, 1, 1])
    indices: Dict[str, int] = field(default_factory=lambda: {s: i for i, s in enumerate(FAIRSEQ_SPECIALS)})
    bos: int = 0
    pad: int = 1
    eos: int = 2
    unk: int = 3

    def __len__(self) -> int:
        return len(self.symbols)

    def index(self, symbol: str) -> int:
        """fairseq ``Dictionary.index``: the lookup of ``symbol``, ``unk`` when unknown."""
        return self.indices.get(symbol, self.unk)

    def add_symbol(self, symbol: str, count: int = 1, overwrite: bool = False) -> int:
        if symbol in self.indices and not overwrite:
            index = self.indices[symbol]
            self.counts[index] += count
            return index
        index = len(self.symbols)
        self.indices[symbol] = index
        self.symbols.append(symbol)
        self.counts.append(count)
        return index

    def shadowed(self) -> List[int]:
        """Indices whose symbol string now looks up another index (earlier copies of overwritten symbols)."""
        return [i for i, symbol in enumerate(self.symbols) if self.indices[symbol] != i]


def read_fairseq_dictionary(path: str | Path, add_mask: bool = True) -> FairseqDictionary:
    """``Dictionary.load(path)`` (plus ``add_symbol("<mask>")`` like masked_lm / RoBERTa when ``add_mask``)."""
    path = Path(path)
    if not path.is_file():
        raise InteropError(f"fairseq dictionary {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError as error:
        raise InteropError(f"{path}: not UTF-8 ({error})") from None
    dictionary = FairseqDictionary()
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        try:
            word, flag = line.rsplit(" ", 1)
            overwrite = flag == OVERWRITE_FLAG
            if overwrite:
                word, flag = word.rsplit(" ", 1)
            count = int(flag)
        except ValueError:
            raise InteropError(f"{path}:{number}: expected '<token> <count> [flags]', got {line!r}") from None
        if word in dictionary.indices and not overwrite:
            raise InteropError(
                f"{path}:{number}: duplicate symbol {word!r}; fairseq refuses it unless the line ends with"
                f" {OVERWRITE_FLAG}"
            )
        dictionary.add_symbol(word, count, overwrite)
    if add_mask:
        dictionary.add_symbol(MASK)
    return dictionary
