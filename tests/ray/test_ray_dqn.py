"""DQN with its replay buffer fed by 2 Ray env runners."""

from __future__ import annotations

import numpy as np
import torch  # noqa: F401 - this folder runs where torch is installed

from rlmodule_core.train.algorithms import DQN
from rlmodule_core.train.loop import build_config


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


def test_a_dead_runners_n_step_returns_end_before_its_replacement_adds_steps(ray_instance, kill):
    config = build_config("dqn", None, ["num_envs=2", "rollout_fragment_length=25", "learning_starts=100", "n_step=3",
                                        "train_batch_size=32", "model.fcnet_hiddens=[32]"])
    algo = DQN(config, "CartPole-v1", framework="torch", seed=0, total_env_steps=10_000, num_env_runners=2)
    try:
        log = []
        real_add, real_end = algo.buffer.add_step, algo.buffer.end_trajectory
        algo.buffer.add_step = lambda slot, *a: log.append(("add", slot)) or real_add(slot, *a)
        algo.buffer.end_trajectory = lambda slot: log.append(("end", slot, len(algo.buffer._pending.get(slot, ())))) \
            or real_end(slot)
        real_sample, requests = algo.sampler.group.sample, []

        def sample(num_steps, **kwargs):
            requests.append(num_steps)
            if len(requests) == 3:  # runner 0 (buffer slot 0) dies before the third request
                log.append(("kill", len(algo.buffer._pending.get(0, ()))))
                kill(algo.sampler.group.actors[0])
            return real_sample(num_steps, **kwargs)

        algo.sampler.group.sample = sample
        metrics = algo.train_iteration(env_steps=300)
        assert metrics["batches_lost"] == 1 and metrics["env_runner_restarts"] == 1
        kill_at = next(i for i, e in enumerate(log) if e[0] == "kill")
        open_steps = log[kill_at][1]
        later = log[kill_at + 1:]
        ends = [i for i, e in enumerate(later) if e[:2] == ("end", 0)]
        adds = [i for i, e in enumerate(later) if e == ("add", 0)]
        # Slot 0's open returns (if the dead runner's episode was mid-way) are stored before
        # the replacement's first step lands in slot 0.
        assert ends and (not adds or ends[0] < adds[0]) and later[ends[0]][2] == open_steps
    finally:
        algo.close()
