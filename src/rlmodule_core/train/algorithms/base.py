"""The training-loop skeleton shared by the algorithms: build, iterate, evaluate, save, resume."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar

from rlmodule_core.backend import registry
from rlmodule_core.rl_module import RLModule
from rlmodule_core.spec import RLModuleSpec
from rlmodule_core.train.env_runner import EnvRunner, EnvSpec, env_spec_with_config
from rlmodule_core.train.learner import Learner, LearnerConfig
from rlmodule_core.train.sampling import LocalSampler, Sampler

__all__ = ["Algorithm"]


class Algorithm:
    """A sampler, a module and its learner; subclasses define one training iteration.

    With ``num_env_runners=0`` the sampler steps ``self.runner`` in this process with the
    learner's module; with N >= 1 it samples on N Ray actors (``rlmodule_core.distributed``,
    the ``ray`` extra) that receive the learner's inference-only weights before each batch.
    ``self.runner`` then serves only evaluation. ``threads`` sets this process's framework
    threads (``Backend.set_threads``; None leaves them) and the remote runners' (default 1).

    Example:
        >>> algo = PPO(PPOConfig(), "CartPole-v1", framework="torch", seed=1)
        >>> while algo.num_env_steps < 100_000:
        ...     metrics = algo.train_iteration()
        >>> algo.evaluate(20)
        >>> algo.close()
    """

    config_class: ClassVar[type[LearnerConfig]]
    learner_class: ClassVar[type[Learner]]
    module_class: ClassVar[type[RLModule]]
    #: Whether ``train_iteration`` samples through ``self.sampler`` (so remote runners work).
    supports_env_runners: ClassVar[bool] = False
    #: model_config keys the module reads beyond DefaultModelConfig's (checked with ``--set``).
    extra_model_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, config: LearnerConfig, env: EnvSpec, *, framework: str | None = None, seed: int = 0,
        total_env_steps: int | None = None, num_env_runners: int = 0, env_config: dict[str, Any] | None = None, threads: int | None = None,
    ) -> None:
        self._check_env_runners(num_env_runners)
        self.threads = threads
        backend = registry.get_backend(registry.resolve_framework(framework))
        if threads is not None:  # before the module is built: TF and JAX fix their pools at their first op
            backend.set_threads(threads)
        # The run's seed also fixes draws made without an explicit rng (DQN's exploration).
        backend.seed(seed)
        env = env_spec_with_config(env, env_config)
        self.config = config
        self.seed = seed
        self.total_env_steps = total_env_steps
        self.runner = EnvRunner(env, 1 if num_env_runners else self.num_envs, seed=seed)
        self.check_spaces(self.runner.observation_space, self.runner.action_space)
        spec = RLModuleSpec(
            module_class=self.module_class,
            observation_space=self.runner.observation_space,
            action_space=self.runner.action_space,
            model_config={**self.model_config(), "seed": seed},
            framework=framework,
        )
        self.module = spec.build()
        self.learner = self.learner_class(self.module, config)
        self.sampler: Sampler = (
            self._remote_sampler(spec, env, num_env_runners) if num_env_runners
            else LocalSampler(self.runner, self.module)
        )
        self.iteration = 0

    def _check_env_runners(self, num_env_runners: int) -> None:
        if num_env_runners < 0:
            raise ValueError(f"Expected num_env_runners >= 0; received {num_env_runners}.")
        if num_env_runners and not self.supports_env_runners:
            raise ValueError(
                f"{type(self).__name__} does not sample on remote env runners yet; received "
                f"num_env_runners={num_env_runners}. Use num_env_runners=0 (--num-env-runners 0), "
                "or PPO or DQN for distributed sampling."
            )

    def _remote_sampler(self, spec: RLModuleSpec, env: EnvSpec, num_env_runners: int) -> Sampler:
        from rlmodule_core.distributed import EnvRunnerGroup, RemoteSampler, split_envs

        # The envs are split, not multiplied: each iteration gathers the same
        # num_envs * rollout_length steps as in one process.
        envs = split_envs(self.num_envs, num_env_runners)
        group = EnvRunnerGroup(
            spec, env, num_env_runners, num_envs_per_runner=envs, seed=self.seed,
            threads=1 if self.threads is None else self.threads,
        )
        return RemoteSampler(group, self.module)

    @property
    def num_envs(self) -> int:
        return int(getattr(self.config, "num_envs", 1))

    @property
    def num_env_steps(self) -> int:
        return self.sampler.num_env_steps

    def model_config(self) -> dict[str, Any]:
        """The module's ``model_config``: the config's ``model`` field (the seed is added at build)."""
        return dict(getattr(self.config, "model", {}) or {})

    def check_spaces(self, observation_space: Any, action_space: Any) -> None:
        """Raises ValueError for spaces the algorithm cannot handle (before any training)."""

    def train_iteration(self) -> dict[str, Any]:
        """Samples, updates the learner and returns the iteration's metrics (floats by name)."""
        raise NotImplementedError

    def evaluate(self, num_episodes: int = 20, *, seed: int = 10_000) -> list[float]:
        """Greedy returns of ``num_episodes`` episodes with ``forward_inference`` (envs seeded from ``seed``)."""
        return self.runner.evaluate(self.module, num_episodes, seed=seed)

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _set_extra_state(self, extra: dict[str, Any]) -> None:
        """Restores what ``_extra_state`` saved."""

    def save_to_path(self, path: str | os.PathLike) -> str:
        """``path`` holds the learner state and ``path/module``, the module checkpoint."""
        extra = {
            "algorithm": type(self).__name__,
            "config": dataclasses.asdict(self.config),
            "seed": self.seed,
            "iteration": self.iteration,
            "runner": self.sampler.get_state(),
            **self._extra_state(),
        }
        return self.learner.save_to_path(path, extra=extra)

    def restore_from_path(self, path: str | os.PathLike) -> None:
        """Continues a run from ``save_to_path``'s directory."""
        extra = self.learner.restore_from_path(Path(path))
        self.iteration = int(extra.get("iteration", 0))
        self.sampler.set_state(extra["runner"])
        self._set_extra_state(extra)

    def close(self) -> None:
        """Closes the environments and stops remote runners (and Ray, if sampling started it)."""
        self.sampler.close()
        self.runner.close()
