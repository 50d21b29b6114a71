"""Inference on a trained model: fill-mask predictions and contextual / sentence embeddings."""
