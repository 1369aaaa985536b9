"""Acting in gymnasium vector environments with a module's forward passes.

``sample`` acts with ``forward_exploration`` (plus the exploration distribution, or the
module's own ``ACTIONS`` when it outputs them, as DQN's epsilon-greedy does) and
returns time-major NumPy arrays; ``evaluate`` plays whole episodes with
``forward_inference`` and the deterministic form of the inference distribution.

The module's outputs are converted to NumPy once per step and actions are sampled
there: one conversion instead of a dozen small framework ops per step.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core import envs as _builtin_envs  # noqa: F401 - registers the built-in env ids
from rlmodule_core.backend import registry
from rlmodule_core.columns import Columns

__all__ = ["EnvRunner", "EnvSpec", "make_vector_env", "to_env_actions"]

EnvSpec = str | Callable[[], gym.Env]

#: Envs stepped together by ``EnvRunner.evaluate`` (one batched forward pass per step).
EVAL_ENVS = 10


@dataclasses.dataclass(frozen=True)
class GymEnvFactory:
    """``gym.make(env_id, **kwargs)`` as a picklable factory (remote runners build their envs with it).

    Example:
        >>> factory = GymEnvFactory("CartPole-v1", {"max_episode_steps": 200})
        >>> env = factory()
    """

    env_id: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __call__(self) -> gym.Env:
        _check_env_id(self.env_id)
        try:
            return gym.make(self.env_id, **self.kwargs)
        except TypeError as err:
            raise ValueError(
                f"The env config {dict(self.kwargs)!r} does not fit {self.env_id!r}: {err}. Pass only keyword "
                "arguments its constructor (or gymnasium.make, e.g. max_episode_steps) accepts."
            ) from None


def env_spec_with_config(env: EnvSpec, env_config: Mapping[str, Any] | None) -> EnvSpec:
    """``env`` itself without a config; with one, a :class:`GymEnvFactory` (``env`` must be an id)."""
    if not env_config:
        return env
    if not isinstance(env, str):
        raise ValueError(f"An env config needs a gymnasium env id; received the factory {env!r}.")
    return GymEnvFactory(env, dict(env_config))


def _check_env_id(env: str) -> None:
    try:
        gym.spec(env)
    except gym.error.Error as err:
        raise ValueError(
            f"Unknown environment {env!r} ({err}). Expected a registered gymnasium id such "
            "as 'CartPole-v1'; list them with gymnasium.pprint_registry()."
        ) from None


def make_vector_env(env: EnvSpec, num_envs: int) -> gym.vector.VectorEnv:
    """A synchronous vector env whose autoreset happens in the step that ends an episode.

    With same-step autoreset, ``infos["final_obs"]`` holds the last observation of an
    episode that ended, which bootstrapping a truncated episode needs.

    Raises:
        ValueError: the env id is unknown (the message says how to list the registered ones).
    """
    kwargs = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    if isinstance(env, str):
        _check_env_id(env)
        return gym.make_vec(env, num_envs=num_envs, vectorization_mode="sync", vector_kwargs=kwargs)
    return gym.vector.SyncVectorEnv([env] * num_envs, **kwargs)


def to_env_actions(actions: np.ndarray, space: gym.Space) -> np.ndarray:
    """Module actions -> env actions: add Discrete ``start``, clip Box actions to the bounds."""
    if isinstance(space, gym.spaces.Discrete):
        return actions.astype(np.int64) + int(space.start)
    if isinstance(space, gym.spaces.Box):
        return np.clip(actions, space.low, space.high).astype(space.dtype)
    return actions


class EnvRunner:
    """Steps ``num_envs`` copies of an environment with a module.

    Example:
        >>> runner = EnvRunner("CartPole-v1", num_envs=4, seed=0)
        >>> batch = runner.sample(module, 128)          # arrays shaped (128, 4, ...)
        >>> runner.evaluate(module, num_episodes=20)    # mean greedy return
    """

    def __init__(self, env: EnvSpec, num_envs: int = 1, *, seed: int | None = None) -> None:
        self.env_spec = env
        self.env = make_vector_env(env, num_envs)
        self.num_envs = num_envs
        self.observation_space = self.env.single_observation_space
        self.action_space = self.env.single_action_space
        self._seed = seed
        self._obs, _ = self.env.reset(seed=seed)
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self.episode_returns: deque[float] = deque(maxlen=100)
        self.num_env_steps = 0
        self.num_episodes = 0
        self._rng = np.random.default_rng(seed)
        self._np_ops = registry.get_backend("numpy").ops

    def _act(self, module: Any, obs: Any, explore: bool, **kwargs: Any) -> tuple[np.ndarray, np.ndarray | None]:
        batch = {Columns.OBS: obs}
        out = module.forward_exploration(batch, **kwargs) if explore else module.forward_inference(batch, **kwargs)
        ops = module.backend.ops
        if Columns.ACTIONS in out:
            return np.asarray(ops.to_numpy(out[Columns.ACTIONS])), None
        cls = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
        dist = cls.from_logits(np.asarray(ops.to_numpy(out[Columns.ACTION_DIST_INPUTS])), ops=self._np_ops)
        if not explore:
            return np.asarray(dist.to_deterministic().sample()), None
        actions, logp = dist.sample(rng=self._rng, return_logp=True)
        return np.asarray(actions), np.asarray(logp)

    def sample(self, module: Any, num_steps: int, **forward_kwargs: Any) -> dict[str, np.ndarray]:
        """Acts ``num_steps`` steps in every env; returns arrays shaped (num_steps, num_envs, ...).

        Keys: ``obs``, ``actions``, ``action_logp`` (when sampled from a distribution),
        ``rewards``, ``terminateds``, ``truncateds``, ``new_obs`` (the next observation;
        for a finished episode its final observation, not the reset one) and ``next_obs_is_final``.
        ``forward_kwargs`` reach ``forward_exploration`` (e.g. ``t=`` for epsilon schedules).
        """
        keys = (Columns.OBS, Columns.ACTIONS, Columns.ACTION_LOGP, Columns.REWARDS,
                Columns.TERMINATEDS, Columns.TRUNCATEDS, Columns.NEXT_OBS)
        steps: dict[str, list] = {k: [] for k in keys}
        for _ in range(num_steps):
            kwargs = {k: (v(self.num_env_steps) if callable(v) else v) for k, v in forward_kwargs.items()}
            actions, logp = self._act(module, self._obs, explore=True, **kwargs)
            next_obs, rewards, terminated, truncated, infos = self.env.step(to_env_actions(actions, self.action_space))
            done = terminated | truncated
            true_next = _tree_copy(next_obs)
            if done.any():
                final = infos["final_obs"]
                for i in np.flatnonzero(done):
                    _tree_set(true_next, i, final[i])
            for key, value in ((Columns.OBS, self._obs), (Columns.ACTIONS, actions), (Columns.ACTION_LOGP, logp),
                               (Columns.REWARDS, rewards), (Columns.TERMINATEDS, terminated),
                               (Columns.TRUNCATEDS, truncated), (Columns.NEXT_OBS, true_next)):
                steps[key].append(value)
            self._track(rewards, done)
            self._obs = next_obs
        if steps[Columns.ACTION_LOGP][0] is None:
            del steps[Columns.ACTION_LOGP]
        return {key: _tree_stack(values) for key, values in steps.items()}

    def _track(self, rewards: np.ndarray, done: np.ndarray) -> None:
        self._returns += rewards
        self._lengths += 1
        self.num_env_steps += self.num_envs
        for i in np.flatnonzero(done):
            self.episode_returns.append(float(self._returns[i]))
            self._returns[i], self._lengths[i] = 0.0, 0
            self.num_episodes += 1

    def evaluate(
        self, module: Any, num_episodes: int = 20, *, seed: int = 10_000, num_envs: int | None = None
    ) -> list[float]:
        """Plays ``num_episodes`` greedy episodes in fresh vectorized envs; returns their returns.

        ``num_envs`` envs (default ``min(num_episodes, EVAL_ENVS)``) step together, env ``i``
        seeded ``seed + i``, and each plays a fixed share of the episodes: the count per env
        is set in advance, so short episodes are not over-represented.
        """
        if num_episodes < 1:
            raise ValueError(f"Expected num_episodes >= 1; received {num_episodes}.")
        n = max(1, min(num_envs or EVAL_ENVS, num_episodes))
        quota = [num_episodes // n + (i < num_episodes % n) for i in range(n)]
        env = make_vector_env(self.env_spec, n)
        returns: list[list[float]] = [[] for _ in range(n)]
        totals = np.zeros(n)
        obs, _ = env.reset(seed=seed)
        try:
            while any(len(r) < q for r, q in zip(returns, quota)):
                actions, _ = self._act(module, obs, explore=False)
                obs, reward, terminated, truncated, _ = env.step(to_env_actions(actions, self.action_space))
                totals += reward
                for i in np.flatnonzero(terminated | truncated):
                    if len(returns[i]) < quota[i]:
                        returns[i].append(float(totals[i]))
                    totals[i] = 0.0
        finally:
            env.close()
        return [r for per_env in returns for r in per_env]

    def get_state(self) -> dict[str, Any]:
        """Counters and the sampling generator's state (JSON), for resuming a run."""
        return {
            "num_env_steps": self.num_env_steps,
            "num_episodes": self.num_episodes,
            "episode_returns": list(self.episode_returns),
            "rng": self._rng.bit_generator.state,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores :meth:`get_state`'s result."""
        self.num_env_steps = int(state["num_env_steps"])
        self.num_episodes = int(state["num_episodes"])
        self.episode_returns.extend(state["episode_returns"])
        if "rng" in state:  # absent when the run sampled on remote runners before
            self._rng.bit_generator.state = state["rng"]

    def close(self) -> None:
        """Closes the environments."""
        self.env.close()


def _tree_copy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _tree_copy(v) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(_tree_copy(v) for v in x)
    return np.array(x, copy=True)


def _tree_set(x: Any, index: int, value: Any) -> None:
    if isinstance(x, dict):
        for k in x:
            _tree_set(x[k], index, value[k])
    elif isinstance(x, tuple):
        for sub, val in zip(x, value):
            _tree_set(sub, index, val)
    else:
        x[index] = value


def _tree_stack(values: list) -> Any:
    first = values[0]
    if isinstance(first, dict):
        return {k: _tree_stack([v[k] for v in values]) for k in first}
    if isinstance(first, tuple):
        return tuple(_tree_stack([v[i] for v in values]) for i in range(len(first)))
    stacked = np.stack(values)
    return stacked.astype(np.float32) if stacked.dtype == np.float64 else stacked
