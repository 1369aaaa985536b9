"""A run's live metrics: metrics.csv rows as they happen, metrics.json, TensorBoard events."""

from __future__ import annotations

import csv
import json
import sys

import pytest

from rlmodule_core.train.run_log import RunLog, check_tensorboard


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_rows_are_on_disk_as_soon_as_they_are_added(tmp_path):
    log = RunLog(tmp_path)
    log.add_iteration({"iteration": 1, "env_steps": 100, "wall_time_s": 1.0, "episode_return_mean": 10.0})
    assert _csv(tmp_path / "metrics.csv") == [
        {"kind": "iteration", "iteration": "1", "env_steps": "100", "wall_time_s": "1.0",
         "episode_return_mean": "10.0"}
    ]
    # A row with a new column (DQN's loss once learning starts) widens the header, keeping old rows.
    log.add_iteration({"iteration": 2, "env_steps": 200, "wall_time_s": 2.0, "episode_return_mean": 12.0,
                       "loss": 0.5})
    log.add_evaluation({"env_steps": 200, "wall_time_s": 2.5, "eval_return_mean": 30.0})
    rows = _csv(tmp_path / "metrics.csv")
    assert [r["kind"] for r in rows] == ["iteration", "iteration", "evaluation"]
    assert rows[0]["loss"] == "" and rows[1]["loss"] == "0.5" and rows[2]["eval_return_mean"] == "30.0"
    log.write_json({"status": "running"})
    log.close()
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["summary"] == {"status": "running"} and len(data["iterations"]) == 2


def test_a_resumed_log_continues_the_history(tmp_path):
    log = RunLog(tmp_path)
    log.add_iteration({"iteration": 1, "env_steps": 100, "wall_time_s": 1.0})
    log.write_json({"wall_time_s": 1.0})
    log.close()
    resumed = RunLog(tmp_path)
    resumed.add_iteration({"iteration": 2, "env_steps": 200, "wall_time_s": 2.0})
    resumed.close()
    assert [r["iteration"] for r in _csv(tmp_path / "metrics.csv")] == ["1", "2"]
    assert resumed.summary == {"wall_time_s": 1.0}


def test_tensorboard_events_hold_the_same_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = RunLog(tmp_path, tensorboard=True)
    for i in (1, 2):
        log.add_iteration({"iteration": i, "env_steps": 100 * i, "wall_time_s": float(i),
                           "episode_return_mean": 10.0 * i, "loss": float("nan")})
    log.add_evaluation({"env_steps": 200, "wall_time_s": 2.5, "eval_return_mean": 30.0, "confirmed": True})
    log.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["eval/eval_return_mean", "train/episode_return_mean"]
    assert [(e.step, e.value) for e in events.Scalars("train/episode_return_mean")] == [(100, 10.0), (200, 20.0)]
    assert [(e.step, e.value) for e in events.Scalars("eval/eval_return_mean")] == [(200, 30.0)]


def test_tensorboard_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="needs the tensorboard package: pip install tensorboard"):
        check_tensorboard()
