"""Built-in environments, registered with gymnasium when this package is imported.

- ``StatelessCartPole-v1``: CartPole-v1 without the velocities (partially observable).

The ``rlmodule`` command imports this package, so the names work on the command line:
``rlmodule train --algo ppo --env StatelessCartPole-v1 ...``.
"""

from __future__ import annotations

import gymnasium as gym

from rlmodule_core.envs.stateless_cartpole import StatelessCartPole

__all__ = ["StatelessCartPole", "register_envs"]


def register_envs() -> None:
    """Registers the built-in envs with gymnasium (idempotent)."""
    if "StatelessCartPole-v1" not in gym.registry:
        gym.register(
            id="StatelessCartPole-v1",
            entry_point="rlmodule_core.envs.stateless_cartpole:StatelessCartPole",
            max_episode_steps=500,
            reward_threshold=475.0,
        )


register_envs()
