"""Selected output positions: the last layer computes only the tokens whose outputs are used.

In pretraining only the masked positions (and the first token for NSP) reach a loss. The last layer's
keys and values still come from every token, but its queries, attention output, feed-forward block and
norms run on the selected tokens only: the same loss and gradients for a fraction of the last layer's cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Selection:
    positions: torch.Tensor  # int64 [M]: flat positions b * T + t, ascending
    rows: torch.Tensor  # int64 [M]: b
    slots: torch.Tensor  # int64 [M]: rank of the position among its row's selected positions
    max_per_row: int

    @classmethod
    def of(cls, positions: torch.Tensor, batch: int, seqlen: int) -> "Selection":
        """``positions`` must be ascending and unique (``torch.nonzero`` order)."""
        rows = torch.div(positions, seqlen, rounding_mode="floor")
        counts = torch.bincount(rows, minlength=batch)
        starts = torch.cumsum(counts, dim=0) - counts
        slots = torch.arange(positions.numel(), device=positions.device) - starts[rows]
        max_per_row = int(counts.max().item()) if positions.numel() else 0
        return cls(positions, rows, slots, max_per_row)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, ...]`` -> ``[M, ...]``."""
        return x.reshape(-1, *x.shape[2:])[self.positions]
