"""MultiAgentCartPole-v1: N independent CartPoles, one per agent, each done on its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from rlmodule_core.envs.multi_agent import MultiAgentEnv

__all__ = ["MultiAgentCartPole"]

#: CartPole-v1's episode limit, per agent.
MAX_EPISODE_STEPS = 500


class MultiAgentCartPole(MultiAgentEnv):
    """``num_agents`` CartPole-v1 copies; agent ``agent_i`` balances pole ``i``.

    An agent whose pole falls (or that reaches 500 steps) gets its last observation
    with ``terminated`` (``truncated``) and then leaves; the episode ends when every
    agent has left. Each agent's return is its own CartPole return (solved: 475).

    Example:
        >>> env = MultiAgentCartPole(num_agents=2)
        >>> obs, _ = env.reset(seed=0)
        >>> sorted(obs)
        ['agent_0', 'agent_1']
    """

    def __init__(self, num_agents: int = 2) -> None:
        if not isinstance(num_agents, int) or isinstance(num_agents, bool) or num_agents < 1:
            raise ValueError(f"MultiAgentCartPole expects num_agents >= 1 (an int); received {num_agents!r}.")
        self.possible_agents = [f"agent_{i}" for i in range(num_agents)]
        self._envs = {a: gym.make("CartPole-v1", max_episode_steps=MAX_EPISODE_STEPS) for a in self.possible_agents}
        self.observation_spaces = {a: e.observation_space for a, e in self._envs.items()}
        self.action_spaces = {a: e.action_space for a, e in self._envs.items()}
        self.agents: list[str] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, infos = {}, {}
        for i, agent in enumerate(self.possible_agents):
            # Distinct seeds so that the poles do not start alike.
            obs[agent], infos[agent] = self._envs[agent].reset(seed=None if seed is None else seed + i)
        self.agents = list(self.possible_agents)
        return obs, infos

    def step(self, actions: Mapping[str, Any]):
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"MultiAgentCartPole.step expects an action for every agent in {self.agents}; missing {missing}.")
        obs, rewards, terminations, truncations, infos = {}, {}, {}, {}, {}
        for agent in self.agents:
            out = self._envs[agent].step(actions[agent])
            obs[agent], rewards[agent], terminations[agent], truncations[agent], infos[agent] = out
        self.agents = [a for a in self.agents if not (terminations[a] or truncations[a])]
        return obs, rewards, terminations, truncations, infos

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
