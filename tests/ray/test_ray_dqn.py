"""DQN with its replay buffer fed by 2 Ray env runners."""

from __future__ import annotations

import numpy as np
import pytest

from rlmodule_core.train.algorithms import DQN
from rlmodule_core.train.loop import build_config

pytest.importorskip("ray")
pytest.importorskip("torch")


def test_dqn_replay_is_fed_by_two_runners_with_broadcast_weights(ray_instance):
    config = build_config("dqn", None, ["num_envs=4", "rollout_fragment_length=25", "learning_starts=200",
                                        "train_batch_size=32", "model.fcnet_hiddens=[32]"])
    algo = DQN(config, "CartPole-v1", framework="torch", seed=0, total_env_steps=10_000, num_env_runners=2)
    try:
        requests = []
        real_sample = algo.sampler.sample

        def recording_sample(num_steps, **kwargs):
            rollouts = real_sample(num_steps, **kwargs)
            requests.append((num_steps, kwargs["t"], [(r.runner_id, r.weights_version) for r in rollouts]))
            return rollouts

        algo.sampler.sample = recording_sample
        first = algo.train_iteration(env_steps=400)
        second = algo.train_iteration(env_steps=400)
        # Each request: 25 steps x 2 envs on each of the 2 runners = 100 env steps, all with the newest weights.
        assert [n for n, _, _ in requests] == [25] * 8
        assert [t for _, t, _ in requests] == list(range(0, 800, 100))  # epsilon follows the global step count
        assert [runners for _, _, runners in requests] == [[(0, v), (1, v)] for v in range(1, 9)]
        assert algo.num_env_steps == 800 and len(algo.buffer) == 800 and algo.runner.num_env_steps == 0
        # One update per vector step (4 envs) once learning started after 200 steps: 600 / 4.
        assert algo.learner.num_updates == 150 and second["num_updates"] == 150
        assert np.isfinite(second["loss"]) and second["batches_received"] == 16 and second["batches_lost"] == 0
        assert first["weights_version"] == 4 and second["weights_version"] == 8
        assert np.isfinite(second["episode_return_mean"])  # returns come from the remote runners' episodes
    finally:
        algo.close()
