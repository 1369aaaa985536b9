"""The multi-agent env interface, its PettingZoo adapter and the multi-agent env ids.

A multi-agent env speaks in dicts keyed by agent ID, the form of PettingZoo's Parallel
API (which RLlib's ``MultiAgentEnv`` shares):

- ``reset(seed=..., options=...) -> (observations, infos)``
- ``step(actions) -> (observations, rewards, terminations, truncations, infos)``

``actions`` holds one action per agent that received an observation last. The agents in
``observations`` are the ones acting next: agents may join (a new ID appears) or leave
(an agent that is terminated or truncated gets its last observation and then no more)
between steps. ``possible_agents`` lists every ID that can ever appear, and
``observation_space(agent_id)`` / ``action_space(agent_id)`` give each agent's spaces.

Three kinds of env spec resolve to a multi-agent env (``make_multi_agent_env``):
an id registered here (``MultiAgentCartPole-v1``); ``"pettingzoo:<module>"`` naming a
module of the ``pettingzoo`` package whose ``parallel_env`` (or AEC ``env``, converted
with PettingZoo's own ``aec_to_parallel``) builds the env, or ``"pettingzoo:<id>"`` with
a PettingZoo registry id such as ``classic/rps-v2`` (``pettingzoo.make``, PettingZoo
>= 1.27); or a callable returning an env with this interface.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

__all__ = [
    "PETTINGZOO_PREFIX",
    "MultiAgentEnv",
    "PettingZooEnv",
    "is_multi_agent_env",
    "make_multi_agent_env",
    "multi_agent_reward_threshold",
    "register_multi_agent_env",
]

PETTINGZOO_PREFIX = "pettingzoo:"

#: Registered multi-agent env ids: id -> (factory taking the env config, reward threshold per agent).
_REGISTRY: dict[str, tuple[Callable[..., Any], float | None]] = {}


class MultiAgentEnv:
    """Base class of a multi-agent env in the dict-per-agent form (see the module docstring).

    Subclasses set ``possible_agents`` and ``agents`` (the agents present now) and
    ``observation_spaces`` / ``action_spaces`` (dicts by agent ID), and implement
    ``reset`` and ``step``.

    Example:
        >>> env = make_multi_agent_env("MultiAgentCartPole-v1", {"num_agents": 2})
        >>> obs, infos = env.reset(seed=0)
        >>> obs, rewards, terminations, truncations, infos = env.step({a: 0 for a in obs})
    """

    possible_agents: list[str]
    agents: list[str]
    observation_spaces: dict[str, gym.Space]
    action_spaces: dict[str, gym.Space]

    def observation_space(self, agent_id: str) -> gym.Space:
        return self.observation_spaces[agent_id]

    def action_space(self, agent_id: str) -> gym.Space:
        return self.action_spaces[agent_id]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        raise NotImplementedError

    def step(self, actions: Mapping[str, Any]):
        raise NotImplementedError

    def close(self) -> None:
        """Releases resources (nothing by default)."""


class PettingZooEnv(MultiAgentEnv):
    """Adapts a PettingZoo ``ParallelEnv`` (or an AEC env, via ``aec_to_parallel``).

    Agent IDs become strings (module IDs are strings); observations and rewards pass
    through unchanged.

    Example:
        >>> from pettingzoo.classic import rps_v2
        >>> env = PettingZooEnv(rps_v2.parallel_env())
        >>> env.possible_agents
        ['player_0', 'player_1']
    """

    def __init__(self, env: Any) -> None:
        from pettingzoo import AECEnv, ParallelEnv
        from pettingzoo.utils.conversions import aec_to_parallel

        if isinstance(env, AECEnv):
            env = aec_to_parallel(env)
        if not isinstance(env, ParallelEnv):
            raise ValueError(
                f"PettingZooEnv expects a pettingzoo ParallelEnv or AECEnv; received {type(env).__name__}."
            )
        self.env = env
        self._ids = {agent: str(agent) for agent in env.possible_agents}
        self._back = {name: agent for agent, name in self._ids.items()}
        self.possible_agents = list(self._ids.values())
        self.observation_spaces = {self._ids[a]: env.observation_space(a) for a in env.possible_agents}
        self.action_spaces = {self._ids[a]: env.action_space(a) for a in env.possible_agents}
        self.agents = []

    def _named(self, values: Mapping[Any, Any]) -> dict[str, Any]:
        return {self._ids[agent]: value for agent, value in values.items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        self.agents = [self._ids[a] for a in self.env.agents]
        return self._named(obs), self._named(infos)

    def step(self, actions: Mapping[str, Any]):
        result = self.env.step({self._back[agent]: action for agent, action in actions.items()})
        self.agents = [self._ids[a] for a in self.env.agents]
        return tuple(self._named(part) for part in result)

    def close(self) -> None:
        self.env.close()


def register_multi_agent_env(env_id: str, factory: Callable[..., Any], reward_threshold: float | None = None) -> None:
    """Registers ``factory(**env_config)`` under ``env_id`` (``reward_threshold``: per agent).

    Example:
        >>> register_multi_agent_env("MyTag-v0", lambda **cfg: MyTag(**cfg), reward_threshold=10.0)
    """
    _REGISTRY[env_id] = (factory, reward_threshold)


def is_multi_agent_env(env: Any) -> bool:
    """Whether ``env`` (an id, ``"pettingzoo:..."`` string or callable) names a multi-agent env.

    A callable counts as multi-agent only when it is a ``MultiAgentEnv`` subclass.
    """
    if isinstance(env, str):
        return env in _REGISTRY or env.startswith(PETTINGZOO_PREFIX)
    return isinstance(env, type) and issubclass(env, MultiAgentEnv)


def multi_agent_reward_threshold(env: Any) -> float | None:
    """The registered per-agent return that counts as solved, or None."""
    return _REGISTRY[env][1] if isinstance(env, str) and env in _REGISTRY else None


def make_multi_agent_env(env: Any, env_config: Mapping[str, Any] | None = None) -> MultiAgentEnv:
    """Builds a multi-agent env from a registered id, ``"pettingzoo:<module>"`` or a callable.

    ``env_config`` holds the constructor's keyword arguments.

    Raises:
        ValueError: the spec names no multi-agent env, the module is outside the
            ``pettingzoo`` package or has no env constructor, or the env does not have
            the interface; each message says what was expected.
        ImportError: ``pettingzoo`` is not installed (install the ``multiagent`` extra).

    Example:
        >>> env = make_multi_agent_env("pettingzoo:pettingzoo.classic.rps_v2", {"num_actions": 3})
    """
    config = dict(env_config or {})
    if isinstance(env, str) and env.startswith(PETTINGZOO_PREFIX):
        built = PettingZooEnv(_construct(env, _pettingzoo_constructor(env[len(PETTINGZOO_PREFIX):]), config))
    elif isinstance(env, str):
        if env not in _REGISTRY:
            raise ValueError(
                f"{env!r} is not a multi-agent env. Expected one of {sorted(_REGISTRY)} or "
                "'pettingzoo:<module>' (e.g. 'pettingzoo:pettingzoo.classic.rps_v2')."
            )
        built = _construct(env, _REGISTRY[env][0], config)
    elif callable(env):
        built = _construct(env, env, config)
    else:
        raise ValueError(f"Expected an env id, 'pettingzoo:<module>' or a callable; received {env!r}.")
    if not _has_interface(built):
        raise ValueError(
            f"{env!r} built a {type(built).__name__}, which is not a multi-agent env: expected "
            "possible_agents, observation_space(agent), action_space(agent), reset() and step(actions) "
            "returning dicts by agent ID. For a single-agent gymnasium env leave --policies unset."
        )
    return built


def _construct(name: Any, factory: Callable[..., Any], config: dict[str, Any]) -> Any:
    try:
        return factory(**config)
    except TypeError as err:
        if not config:
            raise
        raise ValueError(
            f"The constructor of {name!r} rejected the env config {config}: {err}. Pass only keyword "
            "arguments it accepts (--env-config)."
        ) from None


def _has_interface(env: Any) -> bool:
    return all(hasattr(env, name) for name in ("possible_agents", "observation_space", "action_space", "reset", "step"))


def _pettingzoo_constructor(module_name: str) -> Callable[..., Any]:
    if "/" in module_name:  # a PettingZoo registry id such as "classic/rps-v2"
        return _pettingzoo_registry_constructor(module_name)
    # Only modules of the pettingzoo package: a run file names the env, and a file must
    # not make this process import arbitrary code.
    if module_name != "pettingzoo" and not module_name.startswith("pettingzoo."):
        raise ValueError(
            f"'pettingzoo:{module_name}' is outside the pettingzoo package. Expected e.g. "
            "'pettingzoo:pettingzoo.classic.rps_v2'; for your own env pass a factory to the Python API."
        )
    _import_pettingzoo()
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"Cannot import {module_name!r} for 'pettingzoo:{module_name}': {err}.") from None
    for name in ("parallel_env", "env"):
        if callable(getattr(module, name, None)):
            return getattr(module, name)
    raise ValueError(
        f"{module_name!r} has neither parallel_env() nor env(); expected a PettingZoo env module "
        "such as pettingzoo.classic.rps_v2."
    )


def _import_pettingzoo() -> Any:
    try:
        return importlib.import_module("pettingzoo")
    except ImportError:
        raise ImportError(
            "PettingZoo envs need the 'pettingzoo' package: pip install 'rlmodule-core[multiagent]'."
        ) from None


def _pettingzoo_registry_constructor(env_id: str) -> Callable[..., Any]:
    pettingzoo = _import_pettingzoo()
    if not hasattr(pettingzoo, "make"):
        raise ValueError(
            f"'pettingzoo:{env_id}' is a registry id, which needs PettingZoo >= 1.27 (pettingzoo.make); "
            "name the env's module instead, e.g. 'pettingzoo:pettingzoo.classic.rps_v2'."
        )
    try:
        pettingzoo.spec("parallel", env_id)
    except Exception as err:  # PettingZoo's NameNotFound and friends list the known ids
        raise ValueError(f"Unknown PettingZoo env {env_id!r}: {err}") from None
    return lambda **config: pettingzoo.make("parallel", env_id, **config)
