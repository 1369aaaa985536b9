"""The training-loop skeleton shared by the algorithms: build, iterate, evaluate, save, resume."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar

from rlmodule_core.env_runner import EnvRunner, EnvSpec
from rlmodule_core.learner import Learner, LearnerConfig
from rlmodule_core.rl_module import RLModule
from rlmodule_core.spec import RLModuleSpec


class Algorithm:
    """An env runner, a module and its learner; subclasses define one training iteration.

    Example:
        >>> algo = PPO(PPOConfig(), "CartPole-v1", framework="torch", seed=1)
        >>> while algo.num_env_steps < 100_000:
        ...     metrics = algo.train_iteration()
        >>> algo.evaluate(20)
    """

    config_class: ClassVar[type[LearnerConfig]]
    learner_class: ClassVar[type[Learner]]
    module_class: ClassVar[type[RLModule]]

    def __init__(
        self, config: LearnerConfig, env: EnvSpec, *, framework: str | None = None, seed: int = 0,
        total_env_steps: int | None = None,
    ) -> None:
        self.config = config
        self.seed = seed
        self.total_env_steps = total_env_steps
        self.runner = EnvRunner(env, self.num_envs, seed=seed)
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
        self.iteration = 0

    @property
    def num_envs(self) -> int:
        return int(getattr(self.config, "num_envs", 1))

    @property
    def num_env_steps(self) -> int:
        return self.runner.num_env_steps

    def model_config(self) -> dict[str, Any]:
        return dict(getattr(self.config, "model", {}) or {})

    def check_spaces(self, observation_space: Any, action_space: Any) -> None:
        """Raises ValueError for spaces the algorithm cannot handle (before any training)."""

    def train_iteration(self) -> dict[str, Any]:
        raise NotImplementedError

    def evaluate(self, num_episodes: int = 20) -> list[float]:
        """Greedy returns of ``num_episodes`` episodes with ``forward_inference``."""
        return self.runner.evaluate(self.module, num_episodes)

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
            "runner": self.runner.get_state(),
            **self._extra_state(),
        }
        return self.learner.save_to_path(path, extra=extra)

    def restore_from_path(self, path: str | os.PathLike) -> None:
        """Continues a run from :meth:`save_to_path`'s directory."""
        extra = self.learner.restore_from_path(Path(path))
        self.iteration = int(extra.get("iteration", 0))
        self.runner.set_state(extra["runner"])
        self._set_extra_state(extra)
