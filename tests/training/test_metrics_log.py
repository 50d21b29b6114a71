"""MetricsLogger: metrics.jsonl, the TensorBoard events (read back with TensorBoard's EventAccumulator) and the extra
sinks get the same rows; a non-finite value is null in the JSONL and absent from TensorBoard; a resume drops the rows
after the step it goes on from."""

from __future__ import annotations

import math

from workbench.training.metrics_log import MetricsLogger, read_metrics


class _Recorder:
    def __init__(self):
        self.rows = []

    def log(self, step, split, metrics):
        self.rows.append((step, split, dict(metrics)))


def _scalars(folder, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)] if tag in events.Tags()["scalars"] else []


def test_jsonl_tensorboard_and_sinks_get_the_same_rows(tmp_path):
    sink = _Recorder()
    logger = MetricsLogger(tmp_path, sinks=[sink])
    rows = [(1, {"loss": 2.5, "lr": 1e-4}), (2, {"loss": math.inf, "lr": 2e-4}), (3, {"loss": 1.25, "lr": 3e-4})]
    for step, metrics in rows:
        logger.log(step, "train", metrics)
    logger.log(3, "valid", {"loss": 1.5})
    logger.close()
    assert sink.rows == [(s, "train", m) for s, m in rows] + [(3, "valid", {"loss": 1.5})]
    jsonl = read_metrics(tmp_path, "train")
    assert [(r["step"], r["loss"], r["lr"]) for r in jsonl] == [(1, 2.5, 1e-4), (2, None, 2e-4), (3, 1.25, 3e-4)]
    # 2.5, 1.25 and 1.5 are exact in float32; the lrs are compared to float32's precision (2**-24 relative)
    assert _scalars(tmp_path / "tensorboard", "train/loss") == [(1, 2.5), (3, 1.25)]  # inf: not a point
    assert all(math.isclose(v, e, rel_tol=1e-7) for (_, v), e in zip(_scalars(tmp_path / "tensorboard", "train/lr"), (1e-4, 2e-4, 3e-4)))
    assert _scalars(tmp_path / "tensorboard", "valid/loss") == [(3, 1.5)]

    resumed = MetricsLogger(tmp_path, tensorboard=False, resume_step=2)  # steps after 2 are trained again
    resumed.log(3, "train", {"loss": 1.0})
    resumed.close()
    assert [(r["step"], r["loss"]) for r in read_metrics(tmp_path, "train")] == [(1, 2.5), (2, None), (3, 1.0)]
