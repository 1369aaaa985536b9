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
from rlmodule_core.backend import registry, tree
from rlmodule_core.columns import Columns

__all__ = ["EnvRunner", "EnvSpec", "make_vector_env", "to_env_actions"]

EnvSpec = str | Callable[[], gym.Env]

_STEP_KEYS = (Columns.OBS, Columns.ACTIONS, Columns.ACTION_LOGP, Columns.REWARDS,
              Columns.TERMINATEDS, Columns.TRUNCATEDS, Columns.NEXT_OBS)

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
    """``env`` itself without a config; with one, a ``GymEnvFactory`` (``env`` must be an id)."""
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
        self._state: Any = None  # a recurrent module's batched state, carried across sample calls
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self.episode_returns: deque[float] = deque(maxlen=100)
        self.num_env_steps = 0
        self.num_episodes = 0
        self._rng = np.random.default_rng(seed)
        self._np_ops = registry.get_backend("numpy").ops

    def _act(
        self, module: Any, obs: Any, explore: bool, state: Any = None, **kwargs: Any
    ) -> tuple[np.ndarray, np.ndarray | None, Any]:
        """Actions (and their log-probabilities when sampled) for a batch of observations.

        With a recurrent module ``state`` is its batched state: the observations go in as
        sequences of length 1 and the third result is the module's next state (NumPy).
        """
        batch = {Columns.OBS: obs}
        if state is not None:
            batch = {Columns.OBS: _tree_map(lambda x: x[:, None], obs), Columns.STATE_IN: state}
        out = module.forward_exploration(batch, **kwargs) if explore else module.forward_inference(batch, **kwargs)
        ops = module.backend.ops
        next_state = None
        if state is not None:
            # A writable copy: rows are reset in place where episodes end.
            next_state = _tree_map(lambda x: np.array(ops.to_numpy(x)), out[Columns.STATE_OUT])
        if Columns.ACTIONS in out:
            actions = np.asarray(ops.to_numpy(out[Columns.ACTIONS]))
            return (actions[:, 0] if state is not None else actions), None, next_state
        inputs = np.asarray(ops.to_numpy(out[Columns.ACTION_DIST_INPUTS]))
        if state is not None:
            inputs = inputs[:, 0]
        cls = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
        dist = cls.from_logits(inputs, ops=self._np_ops)
        if not explore:
            return np.asarray(dist.to_deterministic().sample()), None, next_state
        actions, logp = dist.sample(rng=self._rng, return_logp=True)
        return np.asarray(actions), np.asarray(logp), next_state

    def sample(self, module: Any, num_steps: int, **forward_kwargs: Any) -> dict[str, np.ndarray]:
        """Acts ``num_steps`` steps in every env; returns arrays shaped (num_steps, num_envs, ...).

        Keys: ``obs``, ``actions``, ``action_logp`` (when sampled from a distribution),
        ``rewards``, ``terminateds``, ``truncateds``, ``new_obs`` (the next observation;
        for a finished episode its final observation, not the reset one).
        ``forward_kwargs`` reach ``forward_exploration`` (e.g. ``t=`` for epsilon schedules).

        A recurrent module (non-empty ``get_initial_state()``) acts on sequences of length 1
        with its state carried from step to step and from one call to the next, reset to the
        initial state where an episode ends. Then ``state_in`` holds the state each step
        acted with, and ``"last_obs"`` / ``"last_state"`` (num_envs, ...) the observation and
        state the next call starts from (to bootstrap values).
        """
        steps: dict[str, list] = {k: [] for k in _STEP_KEYS}
        initial = _initial_state(module)
        recurrent = bool(initial)
        if recurrent and self._state is None:
            self._state = _tree_map(lambda x: np.stack([x] * self.num_envs), initial)
        if recurrent:
            steps[Columns.STATE_IN] = []
        for _ in range(num_steps):
            kwargs = {k: (v(self.num_env_steps) if callable(v) else v) for k, v in forward_kwargs.items()}
            state = self._state if recurrent else None
            actions, logp, next_state = self._act(module, self._obs, True, state, **kwargs)
            step = self._step(actions, logp)
            if recurrent:
                step[Columns.STATE_IN] = state
                done = step[Columns.TERMINATEDS] | step[Columns.TRUNCATEDS]
                for i in np.flatnonzero(done):  # a new episode starts from the initial state
                    _tree_set(next_state, i, initial)
                self._state = next_state
            for key, value in step.items():
                steps[key].append(value)
        if steps[Columns.ACTION_LOGP][0] is None:
            del steps[Columns.ACTION_LOGP]
        result = {key: _tree_stack(values) for key, values in steps.items()}
        if recurrent:
            result["last_obs"] = _tree_copy(self._obs)
            result["last_state"] = _tree_copy(self._state)
        return result

    def step_with(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """One step of every env with the given module actions (e.g. random ones before learning
        starts); returns ``sample``'s arrays for one step, shaped (1, num_envs, ...)."""
        step = self._step(np.asarray(actions), None)
        del step[Columns.ACTION_LOGP]
        return {key: _tree_stack([value]) for key, value in step.items()}

    def _step(self, actions: np.ndarray, logp: np.ndarray | None) -> dict[str, Any]:
        next_obs, rewards, terminated, truncated, infos = self.env.step(to_env_actions(actions, self.action_space))
        done = terminated | truncated
        true_next = _tree_copy(next_obs)
        if done.any():
            final = infos["final_obs"]
            for i in np.flatnonzero(done):
                _tree_set(true_next, i, final[i])
        step = {Columns.OBS: self._obs, Columns.ACTIONS: actions, Columns.ACTION_LOGP: logp,
                Columns.REWARDS: rewards, Columns.TERMINATEDS: terminated, Columns.TRUNCATEDS: truncated,
                Columns.NEXT_OBS: true_next}
        self._track(rewards, done)
        self._obs = next_obs
        return step

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
        is set in advance, so short episodes are not over-represented. A recurrent module's
        state is carried from step to step and reset where an episode ends.
        """
        if num_episodes < 1:
            raise ValueError(f"Expected num_episodes >= 1; received {num_episodes}.")
        n = max(1, min(num_envs or EVAL_ENVS, num_episodes))
        quota = [num_episodes // n + (i < num_episodes % n) for i in range(n)]
        env = make_vector_env(self.env_spec, n)
        returns: list[list[float]] = [[] for _ in range(n)]
        totals = np.zeros(n)
        obs, _ = env.reset(seed=seed)
        initial = _initial_state(module)
        state = _tree_map(lambda x: np.stack([x] * n), initial) if initial else None
        try:
            while any(len(r) < q for r, q in zip(returns, quota)):
                actions, _, state = self._act(module, obs, False, state)
                obs, reward, terminated, truncated, _ = env.step(to_env_actions(actions, self.action_space))
                totals += reward
                for i in np.flatnonzero(terminated | truncated):
                    if state is not None:
                        _tree_set(state, i, initial)
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
        """Restores ``get_state``'s result."""
        self.num_env_steps = int(state["num_env_steps"])
        self.num_episodes = int(state["num_episodes"])
        self.episode_returns.extend(state["episode_returns"])
        if "rng" in state:  # absent when the run sampled on remote runners before
            self._rng.bit_generator.state = state["rng"]

    def close(self) -> None:
        """Closes the environments."""
        self.env.close()


def _initial_state(module: Any) -> Any:
    """The module's unbatched initial state; empty for a feed-forward module (or a stand-in without one)."""
    get = getattr(module, "get_initial_state", None)
    return get() if get is not None else {}


def _tree_map(fn: Callable[[Any], Any], x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _tree_map(fn, v) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(_tree_map(fn, v) for v in x)
    return fn(x)


def _tree_copy(x: Any) -> Any:
    return tree.map_leaves(lambda leaf: np.array(leaf, copy=True), x)


def _tree_set(x: Any, index: int, value: Any) -> None:
    """Writes ``value`` (one step's observation) at ``index`` of the batched arrays ``x``."""

    def put(dst: np.ndarray, src: Any) -> None:
        dst[index] = src

    tree.map_structures(put, [x, value])


def _stack(*values: Any) -> np.ndarray:
    stacked = np.stack(values)
    return stacked.astype(np.float32) if stacked.dtype == np.float64 else stacked


def _tree_stack(values: list) -> Any:
    return tree.map_structures(_stack, values)
