"""RemoteSampler: the algorithms' sampler interface on top of an EnvRunnerGroup."""

from __future__ import annotations

from collections import deque
from typing import Any

from rlmodule_core.distributed.group import EnvRunnerGroup
from rlmodule_core.train.sampling import Rollout

__all__ = ["RemoteSampler"]


class RemoteSampler:
    """Samples on remote runners with the learner module's current weights.

    Same interface as ``rlmodule_core.train.sampling.LocalSampler``: each ``sample`` first
    syncs ``module.get_state(inference_only=True)`` (one object-store upload), then
    gathers one batch per runner. Episode returns and env-step counts are the runners'.

    Example:
        >>> group = EnvRunnerGroup(spec, "CartPole-v1", num_runners=2, num_envs_per_runner=2)
        >>> sampler = RemoteSampler(group, learner_module)
        >>> rollouts = sampler.sample(128)      # two rollouts, each (128, 2, ...)
    """

    def __init__(self, group: EnvRunnerGroup, module: Any) -> None:
        self.group = group
        self.module = module

    @property
    def num_env_steps(self) -> int:
        return self.group.num_env_steps

    @property
    def episode_returns(self) -> deque[float]:
        return self.group.episode_returns

    def sample(self, num_steps: int, **forward_kwargs: Any) -> list[Rollout]:
        """One batch of ``num_steps`` steps per runner, all acting with the current weights
        (``forward_kwargs``, plain values, reach ``forward_exploration``).

        Never returns an empty list: when every runner failed, samples again from their
        replacements (the group raises once its restart budget is spent).
        """
        version = self.group.sync_weights(self.module.get_state(inference_only=True))
        rollouts: list[Rollout] = []
        while not rollouts:
            rollouts = self.group.sample(num_steps, **forward_kwargs)
        stale = [(r.runner_id, r.weights_version) for r in rollouts if r.weights_version != version]
        if stale:  # runners serve calls in order, so this means a bug, not a slow runner
            raise RuntimeError(f"Runners acted with old weights (runner, version): {stale}; expected {version}.")
        return rollouts

    def metrics(self) -> dict[str, float]:
        """The weights version and the batches requested, received and lost so far."""
        counts = self.group.counts
        return {
            "weights_version": self.group.weights_version,
            "num_healthy_env_runners": self.group.num_healthy_runners,
            "batches_requested": counts.requested,
            "batches_received": counts.received,
            "batches_lost": counts.lost,
            "env_runner_restarts": counts.restarts,
        }

    def get_state(self) -> dict[str, Any]:
        """The group's counters and env seeds as JSON, for resuming a run."""
        return self.group.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores ``get_state``'s result."""
        self.group.set_state(state)

    def close(self) -> None:
        """Stops the env-runner actors (and Ray, when the group started it)."""
        self.group.stop()
