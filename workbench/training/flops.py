"""Model FLOPs per optimizer step, for model FLOPs utilization (achieved / peak)."""

from __future__ import annotations

from workbench.model.config import EncoderConfig


def encoder_flops_per_token(config: EncoderConfig, seq_len: int) -> float:
    """Forward+backward FLOPs per token of the encoder stack (6 x matmul params + attention scores).

    Per layer: QKV and output projections 4*h^2, MLP 2*h*i multiply-adds; attention scores and
    weighted values 2*T*h. Forward = 2 FLOPs per multiply-add, backward = twice forward.
    """
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_layers
    per_layer_macs = 4 * h * h + 2 * h * i + 2 * seq_len * h
    return 6.0 * layers * per_layer_macs


def mlm_head_flops_per_masked_token(config: EncoderConfig) -> float:
    assert config.vocab_size is not None
    h = config.hidden_size
    transform = h * h if config.mlm_transform else 0
    return 6.0 * (transform + h * config.vocab_size)


def step_flops(config: EncoderConfig, tokens: int, seq_len: int, masked_tokens: int) -> float:
    return encoder_flops_per_token(config, seq_len) * tokens + mlm_head_flops_per_masked_token(config) * masked_tokens
