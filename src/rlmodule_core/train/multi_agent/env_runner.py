"""Acting in copies of a multi-agent env with a MultiRLModule, one forward per module per step.

Each step gathers the observations of every live agent in every env copy, groups them
by the module the mapping assigns, runs one ``forward_exploration`` (or
``forward_inference``) per module on the stacked group, and sends each agent its
action. Transitions are kept per agent: ``MultiAgentEnvRunner.sample`` returns, for
each module, the trajectory segments of the agents it acted for, so returns and GAE
are computed along each agent's own trajectory.

Agents may leave early (terminated or truncated: that segment ends there) or join later
(a new ID in the observations). An agent that disappears without being flagged done is
treated as truncated, bootstrapping from its last observation. A reward that reaches an
agent between its actions is credited to its next action.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from rlmodule_core.backend import registry
from rlmodule_core.columns import Columns
from rlmodule_core.envs.multi_agent import make_multi_agent_env
from rlmodule_core.train.env_runner import _tree_stack, to_env_actions
from rlmodule_core.train.multi_agent.mapping import PolicyMapping

__all__ = ["MultiAgentEnvRunner", "Segment"]

#: Finished-episode returns kept per agent and per module for the metrics.
RETURN_WINDOW = 100

Segment = dict[str, Any]
_KEYS = (Columns.OBS, Columns.ACTIONS, Columns.ACTION_LOGP, Columns.REWARDS,
         Columns.TERMINATEDS, Columns.TRUNCATEDS, Columns.NEXT_OBS)


class MultiAgentEnvRunner:
    """Steps ``num_envs`` copies of a multi-agent env with a MultiRLModule.

    Example:
        >>> runner = MultiAgentEnvRunner("MultiAgentCartPole-v1", 4, mapping=mapping, seed=0)
        >>> segments = runner.sample(multi_module, 128)   # {module_id: [segment, ...]}
        >>> segments["agent_0"][0]["obs"].shape           # (steps in the segment, 4)
    """

    def __init__(
        self, env: Any, num_envs: int = 1, *, mapping: PolicyMapping, env_config: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        self.env_spec, self.env_config, self.mapping = env, dict(env_config or {}), mapping
        self.envs = [make_multi_agent_env(env, self.env_config) for _ in range(num_envs)]
        self.num_envs = num_envs
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._np_ops = registry.get_backend("numpy").ops
        self.num_env_steps = 0
        self.num_agent_steps = 0
        self.num_episodes = 0
        self.episode_returns: deque[float] = deque(maxlen=RETURN_WINDOW)
        self.agent_returns: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=RETURN_WINDOW))
        self.module_returns: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=RETURN_WINDOW))
        self._episode = list(range(num_envs))  # a distinct episode index per copy, for the mapping
        self._next_episode = num_envs
        self._obs: list[dict[str, Any]] = []
        for i, env in enumerate(self.envs):
            obs, _ = env.reset(seed=None if seed is None else seed + 7919 * i)
            self._obs.append(dict(obs))
        self._modules: list[dict[str, str]] = [{} for _ in range(num_envs)]
        self._open: dict[tuple[int, str], dict[str, list]] = {}
        self._returns: list[dict[str, float]] = [defaultdict(float) for _ in range(num_envs)]
        self._pending_reward: dict[tuple[int, str], float] = defaultdict(float)

    def module_of(self, env_index: int, agent: str) -> str:
        """The agent's module for the current episode of copy ``env_index`` (fixed per episode)."""
        table = self._modules[env_index]
        if agent not in table:
            table[agent] = self.mapping(agent, self._episode[env_index])
        return table[agent]

    # ---- acting ---------------------------------------------------------------------------
    def _act_all(self, module: Any, obs: list[Mapping[str, Any]], explore: bool, **kwargs: Any):
        """One forward per module over every agent it acts for; returns actions and logps per (env, agent)."""
        groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for i, agents in enumerate(obs):
            for agent in agents:
                groups[self.module_of(i, agent)].append((i, agent))
        actions: dict[tuple[int, str], Any] = {}
        logps: dict[tuple[int, str], float | None] = {}
        for module_id, members in groups.items():
            batch = _tree_stack([obs[i][agent] for i, agent in members])
            acts, logp = _act(module[module_id], batch, explore, self._rng, self._np_ops, **kwargs)
            for k, key in enumerate(members):
                actions[key] = acts[k]
                logps[key] = None if logp is None else float(logp[k])
        return actions, logps

    def sample(self, module: Any, num_steps: int, **forward_kwargs: Any) -> dict[str, list[Segment]]:
        """Acts ``num_steps`` steps in every env copy; returns ``{module_id: [segment, ...]}``.

        A segment is one agent's consecutive transitions (arrays with a leading time
        axis, keys as in ``EnvRunner.sample``) with its ``agent_id`` and ``eps_id`` (the
        episode's index, distinct over this runner's env copies and episodes). It ends where the
        agent's episode ended, or at the end of this call (neither terminated nor
        truncated: the next call continues the trajectory in a new segment).
        ``forward_kwargs`` values that are callables get the env step count (``t=``).
        """
        out: dict[str, list[Segment]] = defaultdict(list)
        for _ in range(num_steps):
            kwargs = {k: (v(self.num_env_steps) if callable(v) else v) for k, v in forward_kwargs.items()}
            actions, logps = self._act_all(module, self._obs, explore=True, **kwargs)
            for i, env in enumerate(self.envs):
                self._step_env(i, env, actions, logps, out)
        for key in list(self._open):
            self._close(key, out)
        return dict(out)

    def _step_env(self, i: int, env: Any, actions, logps, out: dict[str, list[Segment]]) -> None:
        obs = self._obs[i]
        env_actions = {
            agent: to_env_actions(np.asarray(actions[(i, agent)])[None], self.mapping.spaces[self.module_of(i, agent)][1])[0]
            for agent in obs
        }
        next_obs, rewards, terminations, truncations, _ = env.step(env_actions)
        self.num_env_steps += 1
        self.num_agent_steps += len(obs)
        for agent, reward in rewards.items():
            self._returns[i][agent] += float(reward)
            if agent not in obs:
                self._pending_reward[(i, agent)] += float(reward)
        live = {}
        for agent in obs:
            key = (i, agent)
            terminated = bool(terminations.get(agent, False))
            gone = agent not in next_obs or (agent not in env.agents if hasattr(env, "agents") else False)
            truncated = bool(truncations.get(agent, False)) or (gone and not terminated)
            reward = float(rewards.get(agent, 0.0)) + self._pending_reward.pop(key, 0.0)
            segment = self._open.setdefault(key, {k: [] for k in _KEYS})
            for name, value in ((Columns.OBS, obs[agent]), (Columns.ACTIONS, actions[key]),
                                (Columns.ACTION_LOGP, logps[key]), (Columns.REWARDS, reward),
                                (Columns.TERMINATEDS, terminated), (Columns.TRUNCATEDS, truncated),
                                (Columns.NEXT_OBS, next_obs.get(agent, obs[agent]))):
                segment[name].append(value)
            if terminated or truncated:
                self._close(key, out)
                self._finish_agent(i, agent)
            else:
                live[agent] = next_obs[agent]
        for agent, value in next_obs.items():  # agents that joined this step
            if agent not in obs and not (terminations.get(agent) or truncations.get(agent)):
                live[agent] = value
        if live:
            self._obs[i] = live
            return
        for agent in list(self._returns[i]):  # agents that never acted but were rewarded
            self._finish_agent(i, agent)
        self.num_episodes += 1
        self._episode[i], self._next_episode = self._next_episode, self._next_episode + 1
        self._modules[i] = {}
        self._pending_reward = defaultdict(float, {k: v for k, v in self._pending_reward.items() if k[0] != i})
        reset_obs, _ = env.reset()
        self._obs[i] = dict(reset_obs)

    def _finish_agent(self, i: int, agent: str) -> None:
        total = self._returns[i].pop(agent, 0.0)
        self.episode_returns.append(total)
        self.agent_returns[agent].append(total)
        self.module_returns[self.module_of(i, agent)].append(total)

    def _close(self, key: tuple[int, str], out: dict[str, list[Segment]]) -> None:
        segment = self._open.pop(key)
        i, agent = key
        if segment[Columns.ACTION_LOGP][0] is None:
            del segment[Columns.ACTION_LOGP]
        arrays = {name: _tree_stack(values) for name, values in segment.items()}
        arrays[Columns.AGENT_ID] = agent
        arrays[Columns.EPS_ID] = self._episode[i]
        out[self.module_of(i, agent)].append(arrays)

    def record_returns(self, episode_returns: list[float], agent_returns: Mapping[str, list[float]],
                       module_returns: Mapping[str, list[float]]) -> None:
        """Adds returns of episodes finished elsewhere (remote runners) to the metrics' windows."""
        self.episode_returns.extend(episode_returns)
        self.num_episodes += len(episode_returns)
        for agent, values in agent_returns.items():
            self.agent_returns[agent].extend(values)
        for module_id, values in module_returns.items():
            self.module_returns[module_id].extend(values)

    # ---- evaluation -----------------------------------------------------------------------
    def evaluate(
        self, module: Any, num_episodes: int = 20, *, seed: int = 10_000, num_envs: int = 10
    ) -> list[dict[str, float]]:
        """Plays ``num_episodes`` greedy episodes; returns each episode's ``{agent: return}``, in order.

        Episode ``k`` starts from ``reset(seed=seed + k)``. Up to ``num_envs`` fresh envs
        play at once, so each step makes one forward call per module over the agents of
        every env it acts for (as sampling does) instead of one per env: evaluation is
        then a small share of a run.
        """
        envs = [make_multi_agent_env(self.env_spec, self.env_config) for _ in range(max(1, min(num_envs, num_episodes)))]
        results: list[dict[str, float]] = [{} for _ in range(num_episodes)]
        episodes = iter(range(num_episodes))
        try:
            games = [self._start_game(env, episodes, seed, results) for env in envs]
            while any(game is not None for game in games):
                groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
                for i, game in enumerate(games):
                    for agent in game["obs"] if game is not None else ():
                        module_id = game["modules"].setdefault(agent, self.mapping(agent, game["episode"]))
                        groups[module_id].append((i, agent))
                actions: list[dict[str, Any]] = [{} for _ in games]
                for module_id, members in groups.items():
                    batch = _tree_stack([games[i]["obs"][agent] for i, agent in members])
                    acts, _ = _act(module[module_id], batch, False, self._rng, self._np_ops)
                    env_actions = to_env_actions(np.asarray(acts), self.mapping.spaces[module_id][1])
                    for k, (i, agent) in enumerate(members):
                        actions[i][agent] = env_actions[k]
                for i, game in enumerate(games):
                    if game is None:
                        continue
                    env = envs[i]
                    next_obs, rewards, terminations, truncations, _ = env.step(actions[i])
                    for agent, reward in rewards.items():
                        game["totals"][agent] += float(reward)
                    obs = {a: o for a, o in next_obs.items() if not (terminations.get(a) or truncations.get(a))}
                    if hasattr(env, "agents"):
                        obs = {a: o for a, o in obs.items() if a in env.agents}
                    game["obs"] = obs
                    if not obs:
                        results[game["episode"]] = dict(game["totals"])
                        games[i] = self._start_game(env, episodes, seed, results)
        finally:
            for env in envs:
                env.close()
        return results

    @staticmethod
    def _start_game(env: Any, episodes: Any, seed: int, results: list[dict[str, float]]) -> dict[str, Any] | None:
        """Resets ``env`` for the next episode to play (None when all are played or running)."""
        for episode in episodes:
            obs, _ = env.reset(seed=seed + episode)
            if obs:
                return {"episode": episode, "obs": dict(obs), "totals": defaultdict(float), "modules": {}}
            results[episode] = {}  # no agent at all: an empty episode
        return None

    # ---- state ----------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Counters, recent returns and the sampling generator's state (JSON), for resuming."""
        return {
            "num_env_steps": self.num_env_steps, "num_agent_steps": self.num_agent_steps,
            "num_episodes": self.num_episodes, "episode_returns": list(self.episode_returns),
            "agent_returns": {a: list(r) for a, r in self.agent_returns.items()},
            "module_returns": {m: list(r) for m, r in self.module_returns.items()},
            "rng": self._rng.bit_generator.state,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restores ``get_state``'s result."""
        self.num_env_steps = int(state["num_env_steps"])
        self.num_agent_steps = int(state["num_agent_steps"])
        self.num_episodes = int(state["num_episodes"])
        self.episode_returns.extend(state["episode_returns"])
        for agent, values in state["agent_returns"].items():
            self.agent_returns[agent].extend(values)
        for module_id, values in state["module_returns"].items():
            self.module_returns[module_id].extend(values)
        self._rng.bit_generator.state = state["rng"]

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _act(module: Any, obs: Any, explore: bool, rng: np.random.Generator, np_ops: Any, **kwargs: Any):
    """Actions (and their log-probabilities when sampled from a distribution) for a batch."""
    batch = {Columns.OBS: obs}
    out = module.forward_exploration(batch, **kwargs) if explore else module.forward_inference(batch, **kwargs)
    ops = module.backend.ops
    if Columns.ACTIONS in out:
        return np.asarray(ops.to_numpy(out[Columns.ACTIONS])), None
    cls = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
    dist = cls.from_logits(np.asarray(ops.to_numpy(out[Columns.ACTION_DIST_INPUTS])), ops=np_ops)
    if not explore:
        return np.asarray(dist.to_deterministic().sample()), None
    actions, logp = dist.sample(rng=rng, return_logp=True)
    return np.asarray(actions), np.asarray(logp)
