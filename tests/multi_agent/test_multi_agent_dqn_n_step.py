"""Multi-agent DQN's n-step returns run along each agent's own trajectory.

Hand-computed transitions for an env where one agent terminates early, one disappears
without a flag (treated as truncated) and one is truncated at the end, sampled in
chunks that cut the trajectories between calls, in two env copies at once.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlmodule_core import Columns
from rlmodule_core.envs.multi_agent import MultiAgentEnv
from rlmodule_core.train.algorithms import DQNConfig
from rlmodule_core.train.algorithms.replay_buffer import ReplayBuffer
from rlmodule_core.train.multi_agent import MultiAgentDQN

pytestmark = pytest.mark.trains

GAMMA, N_STEP = 0.5, 3
BOX = gym.spaces.Box(-1e3, 1e3, (2,), np.float32)


class LeaveEarly(MultiAgentEnv):
    """Three agents act from step 0. At step t (1-based) "a" gets t and terminates at t=3;
    "c" gets 100 at t=1, 2 and is gone after t=2 without a flag; "b" gets 10 t and is
    truncated at t=6. An agent's observation is [t, agent index]."""

    possible_agents = ["a", "b", "c"]

    def __init__(self) -> None:
        self.observation_spaces = dict.fromkeys(self.possible_agents, BOX)
        self.action_spaces = dict.fromkeys(self.possible_agents, gym.spaces.Discrete(2))
        self.agents: list[str] = []

    def _obs(self, agent):
        return np.array([self.t, self.possible_agents.index(agent)], np.float32)

    def reset(self, *, seed=None, options=None):
        self.t, self.agents = 0, list(self.possible_agents)
        return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        assert set(actions) == set(self.agents), (actions, self.agents)
        self.t += 1
        obs, rewards, term, trunc = {}, {}, {}, {}
        if "a" in actions:
            obs["a"], rewards["a"], term["a"], trunc["a"] = self._obs("a"), float(self.t), self.t == 3, False
        if "b" in actions:
            obs["b"], rewards["b"], term["b"], trunc["b"] = self._obs("b"), 10.0 * self.t, False, self.t == 6
        if "c" in actions:
            rewards["c"] = 100.0
            if self.t == 1:
                obs["c"], term["c"], trunc["c"] = self._obs("c"), False, False
        self.agents = [a for a in obs if not (term[a] or trunc[a])]
        return obs, rewards, term, trunc, {a: {} for a in obs}


def rows(buffer: ReplayBuffer) -> list[tuple]:
    """(obs step, agent index, n-step return, next obs step, terminated, discount) of each stored row."""
    data = {k: v[: len(buffer)] for k, v in buffer._data.items()}
    return sorted(
        (float(o[0]), float(o[1]), float(r), float(n[0]), float(d), float(g))
        for o, r, n, d, g in zip(data[Columns.OBS], data[Columns.REWARDS], data[Columns.NEXT_OBS],
                                 data[Columns.TERMINATEDS], data["discounts"])
    )


def expected_rows() -> list[tuple]:
    """Worked by hand with gamma 0.5 and n = 3."""
    a = [  # terminated at step 3: nothing is bootstrapped (terminated = 1)
        (0, 0, 1 + 0.5 * 2 + 0.25 * 3, 3, 1, 0.125),
        (1, 0, 2 + 0.5 * 3, 3, 1, 0.25),
        (2, 0, 3, 3, 1, 0.5),
    ]
    b = [  # three-step returns, then the shorter ones of the truncated end, all bootstrapped
        (0, 1, 10 + 0.5 * 20 + 0.25 * 30, 3, 0, 0.125),
        (1, 1, 20 + 0.5 * 30 + 0.25 * 40, 4, 0, 0.125),
        (2, 1, 30 + 0.5 * 40 + 0.25 * 50, 5, 0, 0.125),
        (3, 1, 40 + 0.5 * 50 + 0.25 * 60, 6, 0, 0.125),
        (4, 1, 50 + 0.5 * 60, 6, 0, 0.25),
        (5, 1, 60, 6, 0, 0.5),
    ]
    c = [  # gone after step 2 without a flag: truncated, bootstrapping from its last observation
        (0, 2, 100 + 0.5 * 100, 1, 0, 0.25),
        (1, 2, 100, 1, 0, 0.5),
    ]
    return sorted(tuple(float(x) for x in row) for row in a + b + c)


def test_n_step_returns_follow_each_agent_and_stop_where_it_leaves(framework):
    config = DQNConfig(n_step=N_STEP, gamma=GAMMA, num_envs=2, learning_starts=10**9, model={"fcnet_hiddens": [8]})
    algo = MultiAgentDQN(config, LeaveEarly, framework=framework, seed=0, multi_agent={"policies": "shared"})
    try:
        [buffer] = algo.buffers.values()
        # Sampled one step at a time: every trajectory is cut into one-step segments and continued.
        algo.train_iteration(env_steps=2 * 6)
        assert algo.num_env_steps == 12 and not buffer.open_trajectories  # every agent's episode ended
        want = expected_rows()
        assert rows(buffer) == sorted(want * 2)  # two env copies, each the same episode
    finally:
        algo.close()


def test_agent_trajectories_match_the_single_agent_buffer(framework):
    """Agent "b"'s rows are what single-agent DQN's buffer stores for the same steps."""
    config = DQNConfig(n_step=N_STEP, gamma=GAMMA, learning_starts=10**9, model={"fcnet_hiddens": [8]})
    algo = MultiAgentDQN(config, LeaveEarly, framework=framework, seed=0, multi_agent={"policies": "independent"})
    try:
        algo.train_iteration(env_steps=6)
        single = ReplayBuffer(100, 1, n_step=N_STEP, gamma=GAMMA)
        for t in range(1, 7):
            single.add(np.array([[t - 1, 1]], np.float32), np.array([0]), np.array([10.0 * t]),
                       np.array([[t, 1]], np.float32), np.array([False]), np.array([t == 6]))
        assert rows(algo.buffers["b"]) == rows(single)
        assert [len(algo.buffers[m]) for m in "abc"] == [3, 6, 2]
    finally:
        algo.close()
