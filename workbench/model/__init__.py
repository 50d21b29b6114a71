"""The encoder (embeddings, attention, MLP, layers), task heads, pretraining and fine-tuning models.

torch only: no file I/O, no Hydra.
"""
