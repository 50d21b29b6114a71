"""Errors raised while training a vocabulary: clear messages, no library tracebacks."""

from __future__ import annotations


class TokenizerTrainingError(ValueError):
    """A vocabulary cannot be trained from these inputs; the message names the cause and the fix."""


class EmptyCorpusError(TokenizerTrainingError):
    """The sources hold no usable text."""


class VocabularySizeError(TokenizerTrainingError):
    """The sample cannot produce the configured vocabulary size."""


class UnknownAlgorithmError(TokenizerTrainingError):
    """The configured algorithm is not one workbench trains."""
