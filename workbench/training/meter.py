"""The step meter: throughput, model FLOPs utilization and data-loading share over the steps since the last log.

Step time is wall time from one step's end to the next (``lap``): logging, the progress bar and anything else the
loop does between steps count in tokens/s (checkpoints and validation too, in the step after them).
"""

from __future__ import annotations

import time
from typing import Dict


class StepMeter:
    def __init__(self, peak_flops: float, log_every: int) -> None:
        """``peak_flops``: FLOP/s of all processes together (MFU's denominator); a row every ``log_every`` steps."""
        self.peak_flops, self.log_every = peak_flops, log_every
        self._reset()
        self.clock = time.perf_counter()

    def _reset(self) -> None:
        self.tokens, self.seconds, self.flops, self.data_seconds = 0, 0.0, 0.0, 0.0

    def due(self, step: int, last_step: int) -> bool:
        """Whether step ``step`` (1-based) is logged."""
        return step % self.log_every == 0 or step == last_step

    def lap(self, tokens: int, flops: float, data_seconds: float) -> None:
        """One applied step: its tokens (all processes), executed FLOPs and the seconds spent reading its batches."""
        now = time.perf_counter()
        elapsed, self.clock = now - self.clock, now
        self.tokens += tokens
        self.seconds += elapsed
        self.data_seconds += data_seconds
        self.flops += flops

    def rates(self) -> Dict[str, float]:
        """tokens/s, MFU and data fraction since the last call (the window starts over)."""
        seconds = max(self.seconds, 1e-9)
        rates = {
            "tokens_per_second": self.tokens / seconds,
            "mfu": self.flops / seconds / self.peak_flops,
            "data_fraction": self.data_seconds / seconds,  # share of step time spent on data
        }
        self._reset()
        return rates
