"""CartPole without velocities: a partially observable task for recurrent policies."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

__all__ = ["StatelessCartPole"]

# CartPole's observation is (cart position, cart velocity, pole angle, pole angular velocity).
_POSITIONS = np.array([0, 2])


class StatelessCartPole(CartPoleEnv):
    """CartPole-v1 whose observation keeps only the cart position and the pole angle.

    Without the velocities a single observation does not tell which way the pole is
    falling, so a feed-forward policy cannot balance it for long, while a policy with
    memory (an LSTM over the last steps) can. Dynamics, rewards and termination are
    CartPole-v1's; registered as ``StatelessCartPole-v1`` (500 steps, threshold 475).

    Example:
        >>> import gymnasium as gym, rlmodule_core.envs
        >>> env = gym.make("StatelessCartPole-v1")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape
        (2,)
    """

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        high = self.observation_space.high[_POSITIONS]
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed, options=options)
        return obs[_POSITIONS], info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs[_POSITIONS], reward, terminated, truncated, info
