"""``trainer.compile=true``: the torch.compile'd pretraining model gives the eager loss, accuracy and gradients on CPU."""

from __future__ import annotations

import shutil

import pytest
import torch

from tests.model.conftest import tiny_config
from workbench.model.kernels.choice import select_kernels, use_kernels
from workbench.model.pretraining import PretrainingModel


def _cpp_compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside inductor (torch.jit.script_method)
@pytest.mark.slow  # inductor compiles C++ kernels: about 45 s on 2 busy cores
@pytest.mark.skipif(_cpp_compiler() is None, reason="torch.compile's CPU backend (inductor) needs a C++ compiler; none on PATH")
def test_compiled_pretraining_model_equals_eager():
    import torch._dynamo as dynamo
    import torch._inductor.config as inductor_config

    config = tiny_config(num_layers=1, dropout=0.0, attention_dropout=0.0)  # dropout off: same random stream is not the point
    torch.manual_seed(0)
    model = PretrainingModel(config).train()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, config.vocab_size, (3, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    mask[2, 6:] = 0
    labels = torch.where(torch.rand(ids.shape, generator=g) < 0.3, ids, torch.full_like(ids, -100)).masked_fill(mask == 0, -100)

    eager = model(ids, mask, labels)
    eager_grads = torch.autograd.grad(eager.loss, list(model.parameters()))
    dynamo.reset()
    try:
        with inductor_config.patch(compile_threads=1):  # no compile-worker pool on a small machine
            use_kernels(model, select_kernels("cpu", compiled=True))  # the kernels trainer.compile=true builds with
            compiled = torch.compile(model, dynamic=False)  # static shapes: the same code, a third of the compile time
            out = compiled(ids, mask, labels)
            grads = torch.autograd.grad(out.loss, list(model.parameters()))
    finally:
        dynamo.reset()
    torch.testing.assert_close(out.loss, eager.loss, atol=1e-5, rtol=1e-5)
    assert int(out.mlm_count) == int(eager.mlm_count) and int(out.mlm_correct) == int(eager.mlm_correct)
    torch.testing.assert_close(out.mlm_logits, eager.mlm_logits, atol=1e-5, rtol=1e-5)
    for (name, _), a, b in zip(model.named_parameters(), grads, eager_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
