"""PPO on CartPole-v1 learns as well sampling on 2 Ray runners as in one process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlmodule_core.train.algorithms import PPO, PPOConfig
from rlmodule_core.train.loop import train

pytest.importorskip("ray")
pytest.importorskip("torch")

BUDGET = 100_000  # env steps; both runs solve CartPole-v1 well within it on seed 0


def run(tmp_path, num_env_runners: int):
    result = train(
        "ppo", "CartPole-v1", framework="torch", seed=0, steps=BUDGET, eval_every=5_120, eval_episodes=10,
        out=tmp_path / f"runners-{num_env_runners}", progress=False, num_env_runners=num_env_runners,
    )
    rows = json.loads((tmp_path / f"runners-{num_env_runners}" / "metrics.json").read_text())["iterations"]
    return result, rows


def test_ppo_with_two_runners_solves_cartpole_like_one_process(ray_instance, tmp_path):
    local, local_rows = run(tmp_path, 0)
    remote, remote_rows = run(tmp_path, 2)

    assert local.solved and remote.solved, (local, remote)
    assert local.final_eval_return >= 475 and remote.final_eval_return >= 475

    assert "batches_received" not in local_rows[-1]  # no Ray in one process
    last = remote_rows[-1]
    # One weight sync and one batch from each runner per iteration; none lost.
    assert last["weights_version"] == last["iteration"]
    assert last["batches_received"] == 2 * last["iteration"] and last["batches_lost"] == 0
    assert all(row["env_steps"] == 512 * row["iteration"] for row in remote_rows)


def test_ppo_metrics_come_from_the_remote_runners(ray_instance):
    algo = PPO(PPOConfig(), "CartPole-v1", framework="torch", seed=1, total_env_steps=10_000, num_env_runners=2)
    try:
        rollouts = []
        real_sample = algo.sampler.sample

        def recording_sample(num_steps):
            rollouts.extend(real_sample(num_steps))
            return rollouts[-2:]

        algo.sampler.sample = recording_sample
        metrics = [algo.train_iteration() for _ in range(2)]
        assert [(r.runner_id, r.seq, r.weights_version) for r in rollouts] == [(0, 0, 1), (1, 0, 1), (0, 1, 2), (1, 1, 2)]
        assert all(r.data["obs"].shape == (128, 2, 4) for r in rollouts)  # num_envs=4 split over 2 runners
        returns = [x for r in rollouts for x in r.episode_returns]
        assert metrics[-1]["episode_return_mean"] == pytest.approx(np.mean(returns))
        assert algo.num_env_steps == 1024 and algo.runner.num_env_steps == 0  # the driver's env never stepped
    finally:
        algo.close()
