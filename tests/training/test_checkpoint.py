import logging

import torch

from workbench.training import checkpoint as ckpt


def _state(step):
    return {"optimizer": {"step": torch.tensor(step)}, "rng": ckpt.rng_state(), "bad_steps": 0}


def test_round_trip_restores_weights_state_and_rng(tmp_path):
    weights = {"w": torch.randn(3, 3), "b": torch.randn(3)}
    torch.manual_seed(7)
    ckpt.save_checkpoint(tmp_path, 5, weights, _state(5), keep_last=3)
    expected_next = torch.rand(4)
    torch.manual_seed(123)  # disturb the global RNG
    loaded = ckpt.load_latest(tmp_path)
    assert loaded.step == 5
    assert all(torch.equal(loaded.model_state[k], v) for k, v in weights.items())
    ckpt.set_rng_state(loaded.state["rng"])
    assert torch.equal(torch.rand(4), expected_next)


def test_keeps_only_the_last_k(tmp_path):
    for step in (1, 2, 3, 4):
        ckpt.save_checkpoint(tmp_path, step, {"w": torch.zeros(1)}, _state(step), keep_last=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000003", "step-00000004"]


def test_truncated_latest_falls_back_to_previous_with_a_message(tmp_path, caplog):
    ckpt.save_checkpoint(tmp_path, 1, {"w": torch.ones(100)}, _state(1), keep_last=5)
    latest = ckpt.save_checkpoint(tmp_path, 2, {"w": torch.full((100,), 2.0)}, _state(2), keep_last=5)
    weights = latest / ckpt.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:50])  # truncated on disk
    with caplog.at_level(logging.WARNING):
        loaded = ckpt.load_latest(tmp_path)
    assert loaded.step == 1 and torch.equal(loaded.model_state["w"], torch.ones(100))
    assert "step-00000002" in caplog.text and "checksum" in caplog.text


def test_unfinished_checkpoint_without_meta_is_ignored(tmp_path):
    ckpt.save_checkpoint(tmp_path, 1, {"w": torch.ones(1)}, _state(1), keep_last=5)
    (tmp_path / "step-00000002").mkdir()  # e.g. a crash from an older writer
    assert ckpt.load_latest(tmp_path).step == 1
