"""Special tokens of each family, at the ids users of that family expect.

- ``bert``: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the learned pieces
  (the order of a freshly trained BERT vocabulary: Google's released vocab has
  [PAD]=0 and [UNK]=100 only because of its 99 [unusedN] slots).
- ``roberta`` (RoBERTa, CamemBERT as trained by fairseq): <s>=0 <pad>=1 </s>=2
  <unk>=3 -- fairseq's ``Dictionary`` order --, the learned pieces in
  ``dict.txt`` order, and <mask> LAST (fairseq's masked_lm task appends it).
  transformers' CamembertTokenizer adds its own quirk on top of the original
  SentencePiece model (<s>NOTUSED/</s>NOTUSED at 0/2 and the SentencePiece
  <s></s> at 5/6); a vocabulary trained here has no such duplicates: <s> is
  0 and </s> is 2, exactly as in the fairseq dictionary the model is trained with.
- ``flaubert`` (XLM dictionary order, transformers' FlaubertTokenizer):
  <s>=0 </s>=1 <pad>=2 <unk>=3 <special0>..<special9>=4..13, mask = <special1>;
  pairs are <s> A </s> B </s> with token types 0 then 1, as FlaubertTokenizer builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

from tokenizers import processors


@dataclass(frozen=True)
class Family:
    name: str
    leading: Tuple[str, ...]  # ids 0..len-1
    trailing: Tuple[str, ...]  # after the learned pieces
    pad: str
    unk: str
    cls: str  # first token of every sequence built by Tokenizer.build_inputs
    sep: str
    mask: str
    pair_separator_twice: bool  # RoBERTa: A </s></s> B
    second_segment_type: int  # token type of the second segment (BERT: 1)
    transformers_tokens: Tuple[Tuple[str, str], ...]  # tokenizer_config.json / special_tokens_map.json entries
    additional: Tuple[str, ...] = ()

    @property
    def all_tokens(self) -> Tuple[str, ...]:
        return self.leading + self.trailing

    def roles(self) -> Dict[str, str]:
        return {"pad": self.pad, "unk": self.unk, "cls": self.cls, "sep": self.sep, "mask": self.mask}

    def layout(self, learned: List[str]) -> List[str]:
        """The final vocabulary: specials at their ids around the learned pieces (specials removed from them)."""
        specials = set(self.all_tokens)
        return [*self.leading, *(token for token in learned if token not in specials), *self.trailing]

    def post_processor(self, token_to_id: Dict[str, int]) -> processors.TemplateProcessing:
        cls, sep = self.cls, self.sep
        t = self.second_segment_type
        single = f"{cls}:0 $A:0 {sep}:0"
        if self.pair_separator_twice:
            pair = f"{cls}:0 $A:0 {sep}:0 {sep}:{t} $B:{t} {sep}:{t}"
        else:
            pair = f"{cls}:0 $A:0 {sep}:0 $B:{t} {sep}:{t}"
        return processors.TemplateProcessing(
            single=single, pair=pair, special_tokens=[(cls, token_to_id[cls]), (sep, token_to_id[sep])]
        )


_FLAUBERT_SPECIALS = tuple(f"<special{i}>" for i in range(10))

FAMILIES: Dict[str, Family] = {
    "bert": Family(
        name="bert",
        leading=("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
        trailing=(),
        pad="[PAD]",
        unk="[UNK]",
        cls="[CLS]",
        sep="[SEP]",
        mask="[MASK]",
        pair_separator_twice=False,
        second_segment_type=1,
        transformers_tokens=(
            ("unk_token", "[UNK]"),
            ("sep_token", "[SEP]"),
            ("pad_token", "[PAD]"),
            ("cls_token", "[CLS]"),
            ("mask_token", "[MASK]"),
        ),
    ),
    "roberta": Family(
        name="roberta",
        leading=("<s>", "<pad>", "</s>", "<unk>"),
        trailing=("<mask>",),
        pad="<pad>",
        unk="<unk>",
        cls="<s>",
        sep="</s>",
        mask="<mask>",
        pair_separator_twice=True,
        second_segment_type=0,
        transformers_tokens=(
            ("bos_token", "<s>"),
            ("eos_token", "</s>"),
            ("unk_token", "<unk>"),
            ("sep_token", "</s>"),
            ("pad_token", "<pad>"),
            ("cls_token", "<s>"),
            ("mask_token", "<mask>"),
        ),
    ),
    "flaubert": Family(
        name="flaubert",
        leading=("<s>", "</s>", "<pad>", "<unk>", *_FLAUBERT_SPECIALS),
        trailing=(),
        pad="<pad>",
        unk="<unk>",
        cls="<s>",
        sep="</s>",
        mask="<special1>",
        pair_separator_twice=False,
        second_segment_type=1,  # FlaubertTokenizer: 0 for <s> A </s>, 1 for B </s>
        # FlaubertTokenizer's own defaults (its cls_token attribute is "</s>"; sequences still start with <s>).
        transformers_tokens=(
            ("bos_token", "<s>"),
            ("unk_token", "<unk>"),
            ("sep_token", "</s>"),
            ("pad_token", "<pad>"),
            ("cls_token", "</s>"),
            ("mask_token", "<special1>"),
        ),
        additional=_FLAUBERT_SPECIALS,
    ),
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown special-token family {name!r}; choose one of: {', '.join(FAMILIES)}") from None
