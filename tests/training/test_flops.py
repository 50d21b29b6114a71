"""The FLOPs the MFU counts are those the pretraining step executes: torch's FlopCounterMode on a real step.

``workbench.training.flops`` counts the matrix products (mm/addmm/bmm/SDPA), the class of ops FlopCounterMode
counts, so the two agree exactly (the tolerance is float rounding of a ~1e7-1e9 integer count); elementwise
ops, norms, softmax and lookups are in neither.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from tests.model.conftest import FLAVORS, tiny_config
from workbench.model.pretraining import SELECTION_MULTIPLE, PretrainingModel
from workbench.config.choices import ConfigError
from workbench.training.config import HardwareConfig
from workbench.training.flops import forward_shape, step_flops

CASES = {
    **{name: (overrides, False) for name, overrides in FLAVORS.items()},
    "bert_nsp": ({}, True),
    "padding_free": (dict(padding_free=True), False),
    "no_dropout_sdpa": (dict(dropout=0.0, attention_dropout=0.0), False),  # SDPA instead of the written-out math
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_counted_flops_equal_flop_counter_of_a_training_step(case):
    overrides, nsp = CASES[case]
    config = tiny_config(vocab_size=311, max_positions=48, **overrides)
    torch.manual_seed(0)
    model = PretrainingModel(config, nsp=nsp).train()
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(5, config.vocab_size, (5, 48), generator=g)
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[2, 30:] = False  # one padded row: the padding-free case runs its token-wise products on fewer rows
    labels = torch.where((torch.rand(ids.shape, generator=g) < 0.15) & mask, ids, torch.full_like(ids, -100))
    extra = {"langs": torch.zeros_like(ids)} if config.num_languages else {}
    nsp_labels = torch.tensor([0, 1, 0, 1, 1]) if nsp else None
    # FlopCounterMode has no formula for SDPA's CPU flash kernel (it would count no attention): SDPA's math
    # backend computes the same products as bmm, which it counts
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(ids, mask, labels, nsp_labels=nsp_labels, **extra).loss.backward()
    expected = counter.get_total_flops()
    counted = step_flops(config, forward_shape(model, labels, mask))
    assert counted == pytest.approx(expected, rel=1e-12), (counted, expected)


def test_masked_only_step_counts_less_than_the_dense_step():
    # bert-small-like widths: the last layer and the vocabulary projection run on ~15% of the positions
    config = tiny_config(vocab_size=30522, hidden_size=512, intermediate_size=2048, num_heads=8, num_layers=4, max_positions=128)
    model = PretrainingModel(config)
    g = torch.Generator().manual_seed(0)
    labels = torch.where(torch.rand(32, 128, generator=g) < 0.15, 7, -100)
    shape = forward_shape(model, labels, None)
    assert shape.selected % SELECTION_MULTIPLE == 0 and shape.selected >= int((labels != -100).sum())
    dense = forward_shape(model, torch.full((32, 128), 7), None)  # every position selected: the plain step
    assert dense.selected == 32 * 128
    assert step_flops(config, shape) < 0.6 * step_flops(config, dense)


def test_peak_of_the_running_precision():
    assert HardwareConfig(precision="bf16", peak_tflops={"fp32": 0.2, "bf16": 0.5}).peak_for() == 0.5
    with pytest.raises(ValueError, match="resolved at start-up"):
        HardwareConfig(precision="auto").peak_for()
    with pytest.raises(ConfigError, match=r"hardware.peak_tflops.bf16"):
        HardwareConfig(peak_tflops={"fp32": 0.2, "bf16": 0.0})
    with pytest.raises(ConfigError, match="hardware.peak_tflops"):
        HardwareConfig(peak_tflops={"fp32": 0.2, "int8": 1.0})
