"""Experiment tracking besides metrics.jsonl and TensorBoard: ``tracking=mlflow`` (docs/tracking.md)."""
