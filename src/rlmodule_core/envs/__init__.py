"""Built-in environments, registered with gymnasium when this package is imported.

- ``StatelessCartPole-v1``: CartPole-v1 without the velocities (partially observable).
- ``MultiAgentCartPole-v1``: N independent CartPoles, one per agent (multi-agent; see
  ``rlmodule_core.envs.multi_agent``); ``num_agents`` from the env config, default 2.

The ``rlmodule`` command imports this package, so the names work on the command line:
``rlmodule train --algo ppo --env StatelessCartPole-v1 ...``.
"""

from __future__ import annotations

import gymnasium as gym

from rlmodule_core.envs.multi_agent import MultiAgentEnv, register_multi_agent_env
from rlmodule_core.envs.multi_agent_cartpole import MultiAgentCartPole
from rlmodule_core.envs.stateless_cartpole import StatelessCartPole

__all__ = ["MultiAgentCartPole", "MultiAgentEnv", "StatelessCartPole", "register_envs"]


def register_envs() -> None:
    """Registers the built-in envs with gymnasium (idempotent)."""
    if "StatelessCartPole-v1" not in gym.registry:
        gym.register(
            id="StatelessCartPole-v1",
            entry_point="rlmodule_core.envs.stateless_cartpole:StatelessCartPole",
            max_episode_steps=500,
            reward_threshold=475.0,
        )
    register_multi_agent_env("MultiAgentCartPole-v1", MultiAgentCartPole, reward_threshold=475.0)


register_envs()
