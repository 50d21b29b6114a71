"""The one error type of ``prepare`` (its steps and its resume bookkeeping raise it too)."""

from __future__ import annotations


class PrepareError(ValueError):
    """The shard set cannot be prepared as asked; the message says why and what to do."""
