"""Ray env runners for multi-agent envs: each samples with an inference-only MultiRLModule.

A ``RemoteMultiAgentEnvRunner`` builds its MultiRLModule from the JSON form of a
``MultiRLModuleSpec`` (slimmed to ``inference_only=True``) and its policy mapping from
the mapping's JSON description (or the user's ``policy_mapping_fn``, which Ray sends as
it sends env factories). ``MultiAgentEnvRunnerGroup`` is the ``EnvRunnerGroup``
with these actors: one upload of the MultiRLModule's inference-only state per sync,
versioned batches, the same fault handling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import ray

from rlmodule_core.backend import registry
from rlmodule_core.distributed.group import EnvRunnerGroup
from rlmodule_core.envs.multi_agent import make_multi_agent_env
from rlmodule_core.spec import MultiRLModuleSpec
from rlmodule_core.train.multi_agent.env_runner import MultiAgentEnvRunner
from rlmodule_core.train.multi_agent.mapping import build_mapping
from rlmodule_core.train.sampling import Rollout

__all__ = ["MultiAgentEnvRunnerGroup", "RemoteMultiAgentEnvRunner", "mapping_config"]


def mapping_config(description: Mapping[str, Any]) -> dict[str, Any]:
    """The ``MultiAgentConfig`` values that rebuild a mapping from its JSON description."""
    kind = description["kind"]
    config: dict[str, Any] = {"modules": description["modules"], "policies_to_train": description["policies_to_train"]}
    if kind in ("shared", "independent"):
        config["policies"] = kind
    elif kind == "mapping":
        config["mapping"] = description["mapping"]
    return config


class RemoteMultiAgentEnvRunner:
    """Samples a multi-agent env with an inference-only MultiRLModule built from a JSON spec.

    Example:
        >>> runner = RemoteMultiAgentEnvRunner(0, spec.to_dict(), "MultiAgentCartPole-v1", 2, 0,
        ...                                    {"num_agents": 2}, mapping.description, None)
        >>> rollout = runner.sample(64, seq=0)     # rollout.data["segments"]: {module_id: [...]}
    """

    def __init__(
        self, runner_id: int, spec: Mapping[str, Any], env: Any, num_envs: int, seed: int | None,
        env_config: Mapping[str, Any], description: Mapping[str, Any],
        policy_mapping_fn: Callable[[str, Any], str] | None, threads: int | None = 1,
    ) -> None:
        self.runner_id = runner_id
        if threads is not None:  # before the modules exist: TF and JAX fix their pools at their first op
            for framework in {sub["framework"] for sub in spec["rl_module_specs"].values()}:
                registry.get_backend(framework).set_threads(threads)
        if seed is not None:  # this runner's draws without an explicit rng (DQN's exploration)
            for framework in {sub["framework"] for sub in spec["rl_module_specs"].values()}:
                registry.get_backend(framework).seed(seed)
        self.module = MultiRLModuleSpec.from_dict({**spec, "inference_only": True}).build()
        probe = make_multi_agent_env(env, env_config)
        try:
            mapping = build_mapping(probe, mapping_config(description), policy_mapping_fn)
        finally:
            probe.close()
        for module_id, spaces in mapping.spaces.items():
            sub = self.module[module_id]
            if (sub.observation_space, sub.action_space) != spaces:
                raise ValueError(
                    f"Module {module_id!r} has spaces ({sub.observation_space}, {sub.action_space}); its agents in "
                    f"{env!r} have {spaces}. Build the spec from the env the runners step."
                )
        self.runner = MultiAgentEnvRunner(env, num_envs, mapping=mapping, env_config=env_config, seed=seed)
        self.weights_version = 0

    def ping(self) -> int:
        return self.runner_id

    def set_weights(self, state: Mapping[str, Any], version: int) -> int:
        """Loads ``{module_id: state}`` (strictly) and records ``version``; returns it."""
        self.module.set_state(state)
        self.weights_version = version
        return version

    def sample(self, num_steps: int, seq: int, **forward_kwargs: Any) -> Rollout:
        """``num_steps`` steps of every env copy; ``data`` holds the segments, the finished
        episodes' returns per agent and per module, and the agent steps taken."""
        runner = self.runner
        agent_steps = runner.num_agent_steps
        segments = runner.sample(self.module, num_steps, **forward_kwargs)
        agent_returns, module_returns = _drain(runner.agent_returns), _drain(runner.module_returns)
        episode_returns = list(runner.episode_returns)
        runner.episode_returns.clear()
        data = {"segments": segments, "agent_returns": agent_returns, "module_returns": module_returns,
                "agent_steps": runner.num_agent_steps - agent_steps}
        return Rollout(data, runner_id=self.runner_id, seq=seq, weights_version=self.weights_version,
                       env_steps=num_steps * runner.num_envs, episode_returns=episode_returns)

    def forward_inference(self, obs: Any) -> dict[str, np.ndarray]:
        """Not used for multi-agent runners (``forward_inference_of`` takes a module ID)."""
        raise ValueError("A multi-agent runner needs a module ID: use forward_inference_of(module_id, obs).")

    def forward_inference_of(self, module_id: str, obs: Any) -> dict[str, np.ndarray]:
        """Module ``module_id``'s ``forward_inference`` outputs on ``obs`` as NumPy."""
        from rlmodule_core.columns import Columns

        sub = self.module[module_id]
        out = sub.forward_inference({Columns.OBS: obs})
        return {k: np.asarray(sub.backend.ops.to_numpy(v)) for k, v in out.items()}

    def apply(self, func: Callable[[RemoteMultiAgentEnvRunner], Any]) -> Any:
        return func(self)


def _drain(returns: Mapping[str, Any]) -> dict[str, list[float]]:
    """The returns recorded since the last batch, by agent or module; empties the record."""
    out = {key: list(values) for key, values in returns.items() if values}
    for values in returns.values():
        values.clear()
    return out


class MultiAgentEnvRunnerGroup(EnvRunnerGroup):
    """An ``EnvRunnerGroup`` of multi-agent runners.

    Example:
        >>> group = MultiAgentEnvRunnerGroup(multi_spec, "MultiAgentCartPole-v1", 2, env_config={"num_agents": 2},
        ...                                  description=mapping.description, num_envs_per_runner=2, seed=0)
        >>> group.sync_weights(multi_module.get_state(inference_only=True))
        >>> rollouts = group.sample(64)
    """

    runner_actor = ray.remote(RemoteMultiAgentEnvRunner)

    def __init__(
        self, module_spec: MultiRLModuleSpec | Mapping[str, Any], env: Any, num_runners: int, *,
        env_config: Mapping[str, Any] | None = None, description: Mapping[str, Any],
        policy_mapping_fn: Callable[[str, Any], str] | None = None, **kwargs: Any,
    ) -> None:
        self._extra = (dict(env_config or {}), dict(description), policy_mapping_fn)
        super().__init__(module_spec, env, num_runners, **kwargs)

    def _spec_dict(self, module_spec: Any, framework: str | None) -> dict[str, Any]:
        spec = module_spec.to_dict() if isinstance(module_spec, MultiRLModuleSpec) else dict(module_spec)
        for sub in spec["rl_module_specs"].values():
            sub["framework"] = registry.resolve_framework(framework or sub.get("framework"))
        return spec

    def _runner_args(self) -> tuple:
        return self._extra
