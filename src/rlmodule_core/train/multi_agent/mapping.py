"""Which module acts for which agent: the policy mapping and its checks.

Three ways to say it, checked against the env's agents and spaces before training:

- ``policies="shared"``: every agent uses one module (``default_policy``); the default
  when all agents have the same spaces.
- ``policies="independent"``: one module per agent, module ID = agent ID; the default
  when the agents' spaces differ.
- a declarative ``mapping`` ``{agent_id: module_id}`` (e.g. from the config file's
  ``[multi_agent]`` table), or a ``policy_mapping_fn(agent_id, episode) -> module_id``
  (Python API; ``episode`` is the env copy's episode counter, so a function may switch
  opponents between episodes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym

from rlmodule_core.multi_rl_module import DEFAULT_MODULE_ID, check_module_id

__all__ = ["POLICY_MODES", "MultiAgentConfig", "PolicyMapping", "build_mapping", "config_values"]

POLICY_MODES = ("independent", "shared")


@dataclasses.dataclass
class MultiAgentConfig:
    """The ``[multi_agent]`` table of a config file (all keys optional).

    Attributes:
        policies: ``"independent"`` or ``"shared"`` (None: shared when all agents share spaces).
        mapping: ``{agent_id: module_id}``; overrides ``policies``.
        modules: the module IDs to build; a mapping to any other ID is an error (None:
            the IDs the mapping names).
        policies_to_train: the modules that learn (None: all); the others act, frozen.

    Example:
        >>> MultiAgentConfig(mapping={"player_0": "learner", "player_1": "opponent"},
        ...                  policies_to_train=["learner"])
    """

    policies: str | None = None
    mapping: dict[str, str] | None = None
    modules: list[str] | None = None
    policies_to_train: list[str] | None = None


@dataclasses.dataclass
class PolicyMapping:
    """The checked mapping: modules with their spaces, the mapping function, the trained set.

    Attributes:
        spaces: ``{module_id: (observation_space, action_space)}``.
        agent_modules: each possible agent's module as checked (episode 0).
        policies_to_train: module IDs whose weights are updated.
        description: JSON form stored in run files and checkpoints.

    Example:
        >>> mapping = build_mapping(env, MultiAgentConfig(policies="independent"))
        >>> mapping("agent_1", episode=7)
        'agent_1'
    """

    spaces: dict[str, tuple[gym.Space, gym.Space]]
    agent_modules: dict[str, str]
    policies_to_train: list[str]
    description: dict[str, Any]
    fn: Callable[[str, Any], str]

    def __call__(self, agent_id: str, episode: Any = None) -> str:
        module_id = self.fn(agent_id, episode)
        if module_id not in self.spaces:
            raise ValueError(
                f"policy_mapping_fn mapped agent {agent_id!r} (episode {episode}) to module {module_id!r}, "
                f"which does not exist; the modules are {sorted(self.spaces)}. Return one of them, or "
                "list every module the function can return in MultiAgentConfig.modules."
            )
        return module_id


def build_mapping(
    env: Any, config: MultiAgentConfig | Mapping[str, Any] | None = None,
    policy_mapping_fn: Callable[[str, Any], str] | None = None,
) -> PolicyMapping:
    """Checks the mapping against ``env`` and returns it.

    Raises:
        ValueError: an unknown ``policies`` mode, an agent without a module or mapped to a
            module not in ``modules``, agents with different spaces sharing one module,
            an invalid module ID, or ``policies_to_train`` naming a missing module. Every
            message names the agents, modules and spaces involved and the fix.

    Example:
        >>> build_mapping(env, {"mapping": {"a": "p0", "b": "p0"}}).spaces
        {'p0': (Box(...), Discrete(2))}
    """
    cfg = config if isinstance(config, MultiAgentConfig) else config_values(config or {})
    agents = [str(a) for a in env.possible_agents]
    if not agents:
        raise ValueError("The env lists no possible_agents; a multi-agent env must name its agents.")
    obs_spaces = {a: env.observation_space(a) for a in agents}
    act_spaces = {a: env.action_space(a) for a in agents}
    same_spaces = all(obs_spaces[a] == obs_spaces[agents[0]] and act_spaces[a] == act_spaces[agents[0]] for a in agents)
    if cfg.policies is not None and cfg.policies not in POLICY_MODES:
        raise ValueError(f"Unknown policies mode {cfg.policies!r}; expected one of {POLICY_MODES}.")

    if policy_mapping_fn is not None:
        fn, description = policy_mapping_fn, {"kind": "function"}
    elif cfg.mapping is not None:
        missing = [a for a in agents if a not in cfg.mapping]
        if missing:
            raise ValueError(
                f"The mapping has no module for agents {missing}; the env's agents are {agents}. "
                "Map every agent, e.g. mapping = {" + ", ".join(f'"{a}" = "p0"' for a in agents[:2]) + "}."
            )
        table = {str(a): str(m) for a, m in cfg.mapping.items()}
        fn, description = (lambda agent, episode: table[agent]), {"kind": "mapping", "mapping": table}
    else:
        mode = cfg.policies or ("shared" if same_spaces else "independent")
        if mode == "shared":
            fn, description = (lambda agent, episode: DEFAULT_MODULE_ID), {"kind": "shared"}
        else:
            fn, description = (lambda agent, episode: agent), {"kind": "independent"}

    agent_modules = {a: fn(a, 0) for a in agents}
    module_ids = list(dict.fromkeys(cfg.modules if cfg.modules is not None else agent_modules.values()))
    for module_id in module_ids:
        try:
            check_module_id(module_id)
        except ValueError as err:
            raise ValueError(f"{err} Map the agents to valid module IDs with a mapping.") from None
    for agent, module_id in agent_modules.items():
        if module_id not in module_ids:
            raise ValueError(
                f"Agent {agent!r} is mapped to module {module_id!r}, which is not among the modules "
                f"{module_ids}. Add {module_id!r} to modules or map the agent to one of them."
            )
    common = (obs_spaces[agents[0]], act_spaces[agents[0]]) if same_spaces else None
    spaces = _module_spaces(module_ids, agent_modules, obs_spaces, act_spaces, common)
    trained = list(cfg.policies_to_train) if cfg.policies_to_train is not None else list(module_ids)
    unknown = [m for m in trained if m not in spaces]
    if unknown or not trained:
        raise ValueError(
            f"policies_to_train must name at least one of the modules {module_ids}; received {trained}."
        )
    description.update(modules=module_ids, agent_modules=agent_modules, policies_to_train=trained)
    return PolicyMapping(spaces, agent_modules, trained, description, fn)


def config_values(values: Mapping[str, Any]) -> MultiAgentConfig:
    """A ``MultiAgentConfig`` from a dict; unknown keys raise ValueError listing the valid ones."""
    names = {f.name for f in dataclasses.fields(MultiAgentConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"Unknown [multi_agent] keys {unknown}. Valid keys: {', '.join(sorted(names))}.")
    return MultiAgentConfig(**values)


def _module_spaces(
    module_ids: Sequence[str], agent_modules: Mapping[str, str],
    obs_spaces: Mapping[str, gym.Space], act_spaces: Mapping[str, gym.Space],
    common: tuple[gym.Space, gym.Space] | None,
) -> dict[str, tuple[gym.Space, gym.Space]]:
    """Each module's spaces, from its agents (a module no agent uses yet gets the common spaces)."""
    spaces: dict[str, tuple[gym.Space, gym.Space]] = {}
    first: dict[str, str] = {}
    for agent, module_id in agent_modules.items():
        pair = (obs_spaces[agent], act_spaces[agent])
        if module_id not in spaces:
            spaces[module_id], first[module_id] = pair, agent
        elif spaces[module_id] != pair:
            other = first[module_id]
            raise ValueError(
                f"Agents {other!r} and {agent!r} share module {module_id!r} but their spaces differ: "
                f"{other!r} has {spaces[module_id]}, {agent!r} has {pair}. Give them separate modules "
                "(--policies independent, or a mapping)."
            )
    unused = [m for m in module_ids if m not in spaces]
    if common is not None:
        spaces.update(dict.fromkeys(unused, common))
    elif unused:
        raise ValueError(
            f"Modules {unused} have no agent mapped to them in episode 0 and the agents' spaces differ, so "
            "their spaces are unknown. Map at least one agent to each module then, or leave them out of modules."
        )
    return {m: spaces[m] for m in module_ids}
