"""Selected output positions: the last layer computes only the tokens whose outputs are used.

In pretraining only the masked positions (and the first token for NSP) reach a loss. The last layer's
keys and values still come from every token, but its queries, attention output, feed-forward block and
norms run on the selected tokens only: the same loss and gradients for a fraction of the last layer's cost.

The number of selected positions changes with every batch (dynamic masking), and with it the shapes of the
last layer's and the MLM head's tensors (``[M, H]``, ``[M, V]``). An allocator that keeps every size it saw
(glibc's heap on CPU, the caching allocator on GPU) then grows step after step. :func:`pad_selection` adds
unused positions up to a multiple of ``multiple`` and ``max_per_row`` is rounded up to a multiple of
``ROW_MULTIPLE``, so a run sees a handful of shapes; the added rows are computed and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ROW_MULTIPLE = 8  # max_per_row (the selected queries of the widest row) is rounded up to a multiple of this


def padded_count(count: int, multiple: int, limit: int) -> int:
    """``count`` rounded up to a multiple of ``multiple``, at most ``limit``."""
    return min(-(-count // multiple) * multiple, limit) if count else 0


def pad_selection(chosen: torch.Tensor, multiple: int) -> torch.Tensor:
    """``chosen`` ``[B, T]`` bool with unselected positions added until its count is a multiple of ``multiple``
    (or every position is selected). The additions are spread over the rows (each row's first unselected
    position, row after row, then each row's second, ...), so no row's count grows by more than
    ``ceil(added / B)`` and the last layer's per-row query block stays narrow. A new tensor; ``chosen`` is
    unchanged. Nothing is added to an empty selection."""
    batch, seqlen = chosen.shape
    count = int(chosen.sum())
    extra = padded_count(count, multiple, batch * seqlen) - count
    if extra <= 0:
        return chosen
    free = ~chosen
    rank = torch.cumsum(free, dim=1) - 1  # rank of a free position among its row's free positions
    rows = torch.arange(batch, device=chosen.device)[:, None]
    key = torch.where(free, rank * batch + rows, batch * seqlen)  # unique among free positions; taken ones last
    added = torch.topk(key.reshape(-1), extra, largest=False, sorted=False).indices
    padded = chosen.clone().reshape(-1)
    padded[added] = True
    return padded.view(batch, seqlen)


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
        max_per_row = padded_count(int(counts.max().item()), ROW_MULTIPLE, seqlen) if positions.numel() else 0
        return cls(positions, rows, slots, max_per_row)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, ...]`` -> ``[M, ...]``."""
        return x.reshape(-1, *x.shape[2:])[self.positions]
