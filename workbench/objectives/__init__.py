"""Pretraining objectives: MLM masking (token and whole-word), word boundaries (pure functions)."""
