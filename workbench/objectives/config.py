"""Schema of the pretraining objective (part of the ``trainer`` group)."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.config.choices import check_choice, check_fraction

MASKING_MODES = ("dynamic", "static")


@dataclass
class ObjectiveConfig:
    mlm_probability: float = 0.15  # ModernBERT uses 0.30
    mask_token_fraction: float = 0.8  # of selected tokens, replaced by the mask token
    random_token_fraction: float = 0.1  # replaced by a random non-special token; the rest stay unchanged
    whole_word: bool = False
    masking: str = "dynamic"  # dynamic: new mask each time a sequence is seen (RoBERTa); static: fixed per duplicate (BERT)
    static_duplicates: int = 10  # static masking: number of precomputed maskings per sequence
    nsp: bool = False  # BERT next-sentence prediction (needs packing.mode=sentence_pairs)

    def __post_init__(self) -> None:
        check_fraction("trainer.objective.mlm_probability", self.mlm_probability)
        check_fraction("trainer.objective.mask_token_fraction", self.mask_token_fraction)
        check_fraction("trainer.objective.random_token_fraction", self.random_token_fraction)
        check_fraction(
            "trainer.objective.mask_token_fraction + random_token_fraction",
            self.mask_token_fraction + self.random_token_fraction,
        )
        check_choice("trainer.objective.masking", self.masking, MASKING_MODES)
