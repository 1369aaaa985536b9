"""The main job (``rlmodule train``) on every backend that trains: settings, solves, live metrics."""

from __future__ import annotations

import json

import pytest

from rlmodule_core.cli.main import main

# The whole module trains: NumPy is deselected (rlmodule_core.testing.fixtures).
pytestmark = pytest.mark.trains


@pytest.fixture
def trainable(framework):
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


class _LuckyThenSolid:
    """PPO whose greedy evaluation is controlled: 20-episode evaluations always pass,
    the first 100-episode confirmation fails, later ones pass."""

    def __init__(self, base):
        self.base = base
        self.calls: list[tuple[int, int]] = []

    def make(self):
        calls, base = self.calls, self.base

        class Controlled(base):
            def evaluate(self, num_episodes=20, *, seed=10_000):
                calls.append((num_episodes, seed))
                confirmations = sum(1 for n, _ in calls if n == 100)
                if num_episodes == 100 and confirmations == 1:
                    return [400.0] * 100  # the lucky 20-episode result does not hold
                return [500.0] * num_episodes

        return Controlled


def test_a_lucky_evaluation_that_fails_confirmation_keeps_training(trainable, tmp_path, monkeypatch):
    from rlmodule_core.train.algorithms import ALGORITHMS, PPO
    from rlmodule_core.train.loop import train

    controlled = _LuckyThenSolid(PPO)
    monkeypatch.setitem(ALGORITHMS, "ppo", controlled.make())
    result = train("ppo", "CartPole-v1", framework=trainable, steps=4096, eval_every=512, out=tmp_path / "run",
                   overrides=["rollout_length=64", "model.fcnet_hiddens=[8]"], progress=False)
    # eval (20, passes) -> confirm (100, fails) -> train on -> eval -> confirm (passes) -> stop.
    assert [n for n, _ in controlled.calls] == [20, 100, 20, 100]
    seeds = [s for _, s in controlled.calls]
    assert len(set(seeds)) == 4  # every evaluation plays fresh start states
    assert result.solved and result.solve_env_steps == 1024 and result.env_steps == 1024
    assert result.solve_confirm_return == 500.0
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    evaluations = summary["evaluations"]
    assert [e.get("confirmed") for e in evaluations] == [False, True]
    assert evaluations[0]["confirm_return_mean"] == 400.0
    solve = summary["summary"]["solve"]
    assert solve["confirm_episodes"] == 100 and solve["confirm_return_mean"] == 500.0
    assert solve["train_return_mean"] == summary["iterations"][-1]["episode_return_mean"]
    assert summary["summary"]["status"] == "finished" and 0 < summary["summary"]["eval_share"] < 1


def test_no_early_stop_still_reports_the_first_confirmed_solve(trainable, tmp_path, monkeypatch):
    from rlmodule_core.train.algorithms import ALGORITHMS, PPO
    from rlmodule_core.train.loop import train

    controlled = _LuckyThenSolid(PPO)
    monkeypatch.setitem(ALGORITHMS, "ppo", controlled.make())
    result = train("ppo", "CartPole-v1", framework=trainable, steps=2048, eval_every=512, out=tmp_path / "run",
                   overrides=["rollout_length=64", "model.fcnet_hiddens=[8]"], progress=False,
                   stop_at_solve=False)
    assert result.env_steps == 2048
    assert result.solved and result.solve_env_steps == 1024
    # Once solved, later evaluations are not confirmed again.
    assert [n for n, _ in controlled.calls] == [20, 100, 20, 100, 20, 20]


def test_metrics_csv_grows_while_the_run_goes(trainable, tmp_path):
    from rlmodule_core.train.loop import train

    out = tmp_path / "run"
    seen: list[int] = []

    def check(row):
        lines = (out / "metrics.csv").read_text().splitlines()
        iterations = [line for line in lines[1:] if line.startswith("iteration,")]
        assert iterations[-1].startswith(f"iteration,{row['iteration']},")
        seen.append(len(iterations))

    train("ppo", "CartPole-v1", framework=trainable, steps=1024, eval_every=512, eval_episodes=2, out=out,
          overrides=["rollout_length=64", "model.fcnet_hiddens=[8]"], progress=False, on_iteration=check)
    assert seen == [1, 2, 3, 4]  # 4 envs x 64 steps per iteration
    lines = (out / "metrics.csv").read_text().splitlines()
    assert sum(line.startswith("evaluation,") for line in lines) == 2


def test_ctrl_c_ends_the_run_with_a_checkpoint_metrics_and_a_resume_hint(trainable, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlmodule_core", "train", "--framework", trainable, "--steps", "10000000",
         "--set", "rollout_length=32", "--set", "model.fcnet_hiddens=[8]", "--eval-every", "100000000",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            csv_file = out / "metrics.csv"
            if csv_file.is_file() and len(csv_file.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert f"continue with: rlmodule train --resume {out}" in stdout
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert summary["status"] == "interrupted" and summary["interrupted_by"] == "SIGINT"
    assert (out / "checkpoint" / "module").is_dir() and (out / "learning_curve.png").is_file()
    rows = [line for line in (out / "metrics.csv").read_text().splitlines() if line.startswith("iteration,")]
    assert len(rows) >= 2 and summary["env_steps"] == 128 * len(rows)  # 4 envs x 32 steps per iteration


def test_a_dqn_run_repeats_from_its_seed(trainable, tmp_path):
    # DQN explores with draws that take no explicit rng (the backend's default generator);
    # the trainer seeds it from --seed, so a run is reproducible and seeds differ.
    import numpy as np

    from rlmodule_core import RLModule
    from rlmodule_core.train.loop import train

    def final_weights(seed, name):
        out = tmp_path / name
        train("dqn", "CartPole-v1", framework=trainable, seed=seed, steps=768, eval_every=10_000, out=out,
              overrides=["learning_starts=256", "model.fcnet_hiddens=[8]"], progress=False, stop_at_solve=False)
        return RLModule.from_checkpoint(out / "checkpoint" / "module").get_state()

    first, again, other = final_weights(3, "a"), final_weights(3, "b"), final_weights(4, "c")
    assert first.keys() == again.keys()
    for key in first:
        np.testing.assert_array_equal(np.asarray(first[key]), np.asarray(again[key]), err_msg=key)
    assert any(not np.array_equal(np.asarray(first[k]), np.asarray(other[k])) for k in first)
