"""Conversion between workbench models and other libraries' checkpoint formats (transformers)."""
