"""Errors of the evaluation pipeline: each names the file, line or key and the fix."""

from __future__ import annotations


class TaskDataError(ValueError):
    """A task file (or hub dataset) is missing or malformed; the message names the file/line and the fix."""


class FinetuneError(ValueError):
    """A fine-tuning job cannot run as configured (model folder, labels, lengths...)."""


class ResultsError(ValueError):
    """The results database is unusable or holds inconsistent rows."""
