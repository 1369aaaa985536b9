"""The built-in envs: registered on import, and what they promise."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import rlmodule_core.envs  # noqa: F401 - registers the ids


def test_stateless_cartpole_is_cartpole_without_velocities():
    full = gym.make("CartPole-v1")
    masked = gym.make("StatelessCartPole-v1")
    assert masked.observation_space.shape == (2,)
    assert masked.spec.max_episode_steps == 500 and masked.spec.reward_threshold == 475.0
    obs_full, _ = full.reset(seed=3)
    obs, _ = masked.reset(seed=3)
    np.testing.assert_array_equal(obs, obs_full[[0, 2]])
    for action in [0, 1, 1, 0, 1, 1, 1]:
        o_full, r_full, term_full, trunc_full, _ = full.step(action)
        o, r, term, trunc, _ = masked.step(action)
        np.testing.assert_array_equal(o, o_full[[0, 2]])
        assert (r, term, trunc) == (r_full, term_full, trunc_full)
        assert masked.observation_space.contains(o)


def test_env_runner_module_registers_the_builtin_envs():
    import subprocess
    import sys

    code = (
        "import gymnasium as gym, rlmodule_core.train.env_runner;"
        "assert 'StatelessCartPole-v1' in gym.registry"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
