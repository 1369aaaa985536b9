"""The multi-agent training skeleton: a MultiRLModule, its mapping, runner and learner."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rlmodule_core.backend import registry
from rlmodule_core.envs.multi_agent import make_multi_agent_env
from rlmodule_core.multi_rl_module import MultiRLModule
from rlmodule_core.spec import MultiRLModuleSpec, RLModuleSpec
from rlmodule_core.train.algorithms.base import Algorithm
from rlmodule_core.train.learner import Learner, LearnerConfig
from rlmodule_core.train.multi_agent.env_runner import MultiAgentEnvRunner
from rlmodule_core.train.multi_agent.mapping import MultiAgentConfig, PolicyMapping, build_mapping

__all__ = ["MultiAgentAlgorithm", "summarize_evaluation"]


class MultiAgentAlgorithm:
    """One module per module ID in a MultiRLModule, trained by one learner (one optimizer each).

    Modules outside ``policies_to_train`` act in the env but get no updates. Subclasses
    define ``train_iteration``; everything else (building, evaluation, checkpoints,
    resume) is shared.

    Example:
        >>> algo = MultiAgentPPO(PPOConfig(), "MultiAgentCartPole-v1", framework="torch",
        ...                      multi_agent=MultiAgentConfig(policies="independent"))
        >>> metrics = algo.train_iteration()      # keys like "agent_0/episode_return_mean"
        >>> algo.close()
    """

    config_class: ClassVar[type[LearnerConfig]]
    learner_class: ClassVar[type[Learner]]
    #: Whether ``train_iteration`` samples through ``sample`` (so Ray runners work).
    supports_env_runners: ClassVar[bool] = False
    #: The single-agent algorithm whose module class and space checks apply per module.
    single_agent_class: ClassVar[type[Algorithm]]

    def __init__(
        self, config: LearnerConfig, env: Any, *, framework: str | None = None, seed: int = 0,
        total_env_steps: int | None = None, num_env_runners: int = 0, env_config: Mapping[str, Any] | None = None,
        multi_agent: MultiAgentConfig | Mapping[str, Any] | None = None,
        policy_mapping_fn: Callable[[str, Any], str] | None = None,
    ) -> None:
        if num_env_runners < 0 or (num_env_runners and not self.supports_env_runners):
            raise ValueError(
                f"{type(self).__name__} samples in this process only; received num_env_runners={num_env_runners}. "
                "Use --num-env-runners 0, or an algorithm that samples on runners (PPO, DQN)."
            )
        self.config, self.seed, self.total_env_steps = config, seed, total_env_steps
        # The run's seed also fixes draws made without an explicit rng (DQN's exploration).
        registry.get_backend(registry.resolve_framework(framework)).seed(seed)
        probe = make_multi_agent_env(env, env_config)
        try:
            self.mapping: PolicyMapping = build_mapping(probe, multi_agent, policy_mapping_fn)
        finally:
            probe.close()
        for module_id, (obs_space, act_space) in self.mapping.spaces.items():
            try:
                self.check_spaces(obs_space, act_space)
            except ValueError as err:
                raise ValueError(f"[module {module_id!r}] {err}") from None
        specs = {
            module_id: RLModuleSpec(
                module_class=self.single_agent_class.module_class, observation_space=obs_space,
                action_space=act_space, model_config={**self.model_config(), "seed": seed + k}, framework=framework,
            )
            for k, (module_id, (obs_space, act_space)) in enumerate(self.mapping.spaces.items())
        }
        spec = MultiRLModuleSpec(rl_module_specs=specs)
        self.module: MultiRLModule = spec.build()
        self.learner = self.learner_class(self.module, config)
        # With remote runners the local runner only evaluates and keeps the returns for the metrics.
        self.runner = MultiAgentEnvRunner(
            env, 1 if num_env_runners else self.num_envs, mapping=self.mapping, env_config=env_config, seed=seed,
        )
        self.group = None
        if num_env_runners:
            from rlmodule_core.distributed import split_envs
            from rlmodule_core.distributed.multi_agent import MultiAgentEnvRunnerGroup

            self.group = MultiAgentEnvRunnerGroup(
                spec, env, num_env_runners, env_config=env_config, description=self.mapping.description,
                policy_mapping_fn=policy_mapping_fn, num_envs_per_runner=split_envs(self.num_envs, num_env_runners),
                seed=seed,
            )
        self.iteration = 0
        self.evaluation_metrics: dict[str, float] = {}

    @property
    def num_envs(self) -> int:
        return int(getattr(self.config, "num_envs", 1))

    @property
    def num_env_steps(self) -> int:
        return self.group.num_env_steps if self.group is not None else self.runner.num_env_steps

    def sample(self, num_steps: int, **forward_kwargs: Any) -> dict[str, list[dict[str, Any]]]:
        """``{module_id: [segment, ...]}`` from ``num_steps`` steps of every env copy.

        With remote runners: one upload of the inference-only MultiRLModule state, then one
        batch per runner, all acting with those weights; their returns feed the metrics.
        """
        segments: dict[str, list[dict[str, Any]]] = {}
        for _, by_module in self.sample_by_runner(num_steps, **forward_kwargs):
            for module_id, parts in by_module.items():
                segments.setdefault(module_id, []).extend(parts)
        return segments

    def sample_by_runner(self, num_steps: int, **forward_kwargs: Any) -> list[tuple[int, dict[str, list[dict[str, Any]]]]]:
        """``sample``'s segments as ``(runner_id, {module_id: [segment, ...]})`` per batch.

        A segment's trajectory is ``(runner_id, segment["eps_id"], segment["agent_id"])``
        (runner 0 when sampling in this process). ``forward_kwargs`` (plain values, or
        callables of the env step count in this process) reach ``forward_exploration``.
        """
        if self.group is None:
            return [(0, self.runner.sample(self.module, num_steps, **forward_kwargs))]
        version = self.group.sync_weights(self.module.get_state(inference_only=True))
        rollouts = []
        while not rollouts:
            rollouts = self.group.sample(num_steps, **forward_kwargs)
        for rollout in rollouts:
            if rollout.weights_version != version:
                raise RuntimeError(f"Runner {rollout.runner_id} acted with weights {rollout.weights_version}, not {version}.")
            self.runner.record_returns(rollout.episode_returns, rollout.data["agent_returns"],
                                       rollout.data["module_returns"])
            self.runner.num_agent_steps += int(rollout.data.get("agent_steps", 0))
        return [(rollout.runner_id, rollout.data["segments"]) for rollout in rollouts]

    @property
    def policies_to_train(self) -> list[str]:
        return self.mapping.policies_to_train

    def model_config(self) -> dict[str, Any]:
        return dict(getattr(self.config, "model", {}) or {})

    def check_spaces(self, observation_space: Any, action_space: Any) -> None:
        """The single-agent algorithm's checks, per module."""
        self.single_agent_class.check_spaces(self, observation_space, action_space)

    def train_iteration(self) -> dict[str, Any]:
        raise NotImplementedError

    def _return_metrics(self) -> dict[str, float]:
        """Training returns: over all agents, per module and per agent (last 100 episodes each)."""
        runner = self.runner
        metrics = {"episode_return_mean": _mean(runner.episode_returns), "agent_steps": runner.num_agent_steps}
        for module_id in self.mapping.spaces:
            metrics[f"{module_id}/episode_return_mean"] = _mean(runner.module_returns.get(module_id, ()))
        for agent, returns in runner.agent_returns.items():
            metrics[f"agent/{agent}/episode_return_mean"] = _mean(returns)
        if self.group is not None:
            counts = self.group.counts
            metrics.update(
                weights_version=self.group.weights_version, num_healthy_env_runners=self.group.num_healthy_runners,
                batches_requested=counts.requested, batches_received=counts.received, batches_lost=counts.lost,
                env_runner_restarts=counts.restarts,
            )
        return metrics

    def evaluate(self, num_episodes: int = 20, *, seed: int = 10_000) -> list[float]:
        """Greedy episodes; each episode's score is its lowest module's return.

        A module's return in an episode is the mean over the agents it played, so a mean
        score >= 475 on MultiAgentCartPole means every module solved it. The per-module
        and per-agent means are in ``self.evaluation_metrics``.
        """
        episodes = self.runner.evaluate(self.module, num_episodes, seed=seed)
        scores, self.evaluation_metrics = summarize_evaluation(episodes, self.mapping.agent_modules)
        return scores

    def save_to_path(self, path: str | os.PathLike) -> str:
        """``path/module`` is the MultiRLModule; the metadata holds the mapping and counters."""
        extra = {
            "algorithm": type(self).__name__, "config": dataclasses.asdict(self.config), "seed": self.seed,
            "iteration": self.iteration, "runner": self.runner.get_state(),
            "group": None if self.group is None else self.group.get_state(),
            "multi_agent": {key: value for key, value in self.mapping.description.items()},
            "env_config": self.runner.env_config,
        }
        return self.learner.save_to_path(path, extra=extra)

    def restore_from_path(self, path: str | os.PathLike) -> None:
        """Continues a run; the checkpoint's mapping must be this run's."""
        from rlmodule_core.checkpoint import read_metadata

        stored = read_metadata(Path(path)).get("extra", {}).get("multi_agent")
        if stored is None:
            raise ValueError(f"{path} is a single-agent checkpoint; it cannot resume a multi-agent run.")
        mine = self.mapping.description
        for key in ("modules", "agent_modules", "policies_to_train"):
            if stored.get(key) != mine.get(key):
                raise ValueError(
                    f"The checkpoint's {key} {stored.get(key)} differ from this run's {mine.get(key)}; "
                    "resume with the mapping the run was trained with."
                )
        extra = self.learner.restore_from_path(Path(path))
        self.iteration = int(extra.get("iteration", 0))
        self.runner.set_state(extra["runner"])
        if self.group is not None and extra.get("group"):
            self.group.set_state(extra["group"])
        elif self.group is not None:  # the run sampled locally before: continue its count
            self.group.num_env_steps = self.runner.num_env_steps
        elif extra.get("group"):  # the run sampled on runners before: this process continues their count
            self.runner.num_env_steps = int(extra["group"]["num_env_steps"])

    def close(self) -> None:
        """Closes the envs and stops remote runners (and Ray, if the group started it)."""
        if self.group is not None:
            self.group.stop()
        self.runner.close()


def summarize_evaluation(
    episodes: list[dict[str, float]], agent_modules: Mapping[str, str],
) -> tuple[list[float], dict[str, float]]:
    """Per-episode scores (the lowest module's mean agent return) and mean returns per module and agent."""
    scores = []
    per_module: dict[str, list[float]] = {}
    per_agent: dict[str, list[float]] = {}
    for returns in episodes:
        by_module: dict[str, list[float]] = {}
        for agent, value in returns.items():
            by_module.setdefault(agent_modules.get(agent, agent), []).append(value)
            per_agent.setdefault(agent, []).append(value)
        module_means = {m: float(np.mean(v)) for m, v in by_module.items()}
        for module_id, value in module_means.items():
            per_module.setdefault(module_id, []).append(value)
        scores.append(min(module_means.values()) if module_means else 0.0)
    metrics = {f"{m}/eval_return_mean": float(np.mean(v)) for m, v in per_module.items()}
    metrics.update({f"agent/{a}/eval_return_mean": float(np.mean(v)) for a, v in per_agent.items()})
    return scores, metrics


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")

