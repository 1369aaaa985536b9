"""The main job (``rlmodule train``) on every backend that trains: settings, solves, live metrics."""

from __future__ import annotations

import json

import pytest

from rlmodule_core.cli.main import main


@pytest.fixture
def trainable(framework):
    if framework == "numpy":
        pytest.skip("the numpy backend computes no gradients (tests/core checks that it says so)")
    return framework


def test_env_config_and_set_are_recorded_and_used_by_eval(trainable, tmp_path, capsys):
    out = tmp_path / "run"
    code = main([
        "train", "--framework", trainable, "--env-config", '{"max_episode_steps": 9}', "--steps", "512",
        "--set", "rollout_length=64", "--set", "model.fcnet_hiddens=[8]", "--eval-every", "512",
        "--eval-episodes", "2", "--out", str(out),
    ])
    assert code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["env_config"] == {"max_episode_steps": 9}
    assert run["config"]["rollout_length"] == 64 and run["config"]["model"]["fcnet_hiddens"] == [8]
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "3"]) == 0
    assert "return 9.0 ± 0.0" in capsys.readouterr().out  # every episode is cut at 9 steps
