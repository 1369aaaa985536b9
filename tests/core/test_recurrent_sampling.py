"""Recurrent PPO's plumbing without a framework: sequence cutting and state carried by the env runner."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rlmodule_core import Columns
from rlmodule_core.train.algorithms.ppo import sequence_indices
from rlmodule_core.train.env_runner import EnvRunner


def test_sequences_cut_at_episode_starts_and_max_seq_len():
    done = np.zeros((7, 2), bool)
    done[2, 0] = True  # env 0: an episode ends at t=2
    index_t, index_n, mask = sequence_indices(done, 3)
    sequences = [
        (int(n[0]), [int(t) for t, m in zip(ts, ms) if m]) for ts, n, ms in zip(index_t, index_n, mask)
    ]
    assert sequences == [
        (0, [0, 1, 2]), (0, [3, 4, 5]), (0, [6]),
        (1, [0, 1, 2]), (1, [3, 4, 5]), (1, [6]),
    ]
    done[4, 1] = True
    _, index_n, mask = sequence_indices(done, 5)
    lengths = [(int(n[0]), int(m.sum())) for n, m in zip(index_n, mask)]
    assert lengths == [(0, 3), (0, 4), (1, 5), (1, 2)]
    # Every rollout step appears exactly once among the unmasked entries.
    index_t, index_n, mask = sequence_indices(done, 5)
    assert sorted(zip(index_t[mask].tolist(), index_n[mask].tolist())) == [(t, n) for t in range(7) for n in range(2)]


class _Counter(gym.Env):
    """Observation = step in the episode; an episode lasts ``length`` steps."""

    observation_space = gym.spaces.Box(0, 100, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, length=3):
        self.length, self.t = length, 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([float(self.t)], np.float32), 1.0, self.t >= self.length, False, {}


class _CountingModule:
    """A recurrent stand-in: the state counts the steps since the episode started."""

    def __init__(self):
        from rlmodule_core.backend import registry

        self.backend = registry.get_backend("numpy")
        self.seen = []

    def get_initial_state(self):
        return {"h": np.zeros((1,), np.float32)}

    def forward_exploration(self, batch, **kwargs):
        assert batch[Columns.OBS].shape[1] == 1  # (B, T=1, ...)
        state = batch[Columns.STATE_IN]["h"]
        self.seen.append(state[:, 0].copy())
        n = len(state)
        return {Columns.ACTIONS: np.zeros((n, 1), np.int64), Columns.STATE_OUT: {"h": state + 1.0}}

    forward_inference = forward_exploration


def test_runner_carries_state_across_calls_and_resets_it_at_episode_starts():
    runner = EnvRunner(lambda: _Counter(3), 2, seed=0)
    module = _CountingModule()
    first = runner.sample(module, 2)
    second = runner.sample(module, 3)
    # The state equals the step within the episode, across the two calls: 0 1 | 2 0 1.
    states = np.concatenate([first[Columns.STATE_IN]["h"][..., 0], second[Columns.STATE_IN]["h"][..., 0]])
    np.testing.assert_array_equal(states, [[0, 0], [1, 1], [2, 2], [0, 0], [1, 1]])
    np.testing.assert_array_equal(states, np.concatenate([first[Columns.OBS], second[Columns.OBS]])[..., 0])
    np.testing.assert_array_equal(second["last_state"]["h"][:, 0], [2, 2])
    np.testing.assert_array_equal(second["last_obs"][:, 0], [2, 2])


def test_evaluation_carries_state_and_resets_it():
    runner = EnvRunner(lambda: _Counter(4), 1, seed=0)
    module = _CountingModule()
    assert runner.evaluate(module, 3, num_envs=1) == [4.0, 4.0, 4.0]
    assert np.concatenate(module.seen).tolist() == [0, 1, 2, 3] * 3
