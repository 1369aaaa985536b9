"""What the algorithms sample through: rollouts tagged with where they came from.

A sampler hands out ``Rollout`` objects, each the time-major arrays of one
``EnvRunner.sample`` call plus the metadata a learner needs (which runner, which
request, which weights). ``LocalSampler`` steps the learner's own module in this
process; ``rlmodule_core.distributed.RemoteSampler`` (the ``ray`` extra) has the same
interface and samples on Ray actors. Neither knows anything about the algorithm.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any, Protocol

from rlmodule_core.train.env_runner import EnvRunner

__all__ = ["LocalSampler", "RETURN_WINDOW", "Rollout", "Sampler"]

#: Finished-episode returns kept for the ``episode_return_mean`` metric.
RETURN_WINDOW = 100


@dataclasses.dataclass
class Rollout:
    """One sample batch and where it came from.

    Attributes:
        data: ``EnvRunner.sample``'s dict, arrays shaped (num_steps, num_envs, ...).
        runner_id: the runner that stepped the envs (0 for a local sampler).
        seq: the request's sequence number for that runner (0, 1, 2, ...); with
            ``runner_id`` it names the batch uniquely, so none is counted twice.
        weights_version: the version of the weights that acted (see ``sync_weights``).
        env_steps: env steps in ``data`` (num_steps * num_envs).
        episode_returns: returns of the episodes that ended within this batch (whole
            episodes: steps from earlier batches of the same runner count too).

    Example:
        >>> rollout = sampler.sample(128)[0]
        >>> rollout.data["obs"].shape, rollout.weights_version
        ((128, 4, 4), 3)
    """

    data: dict[str, Any]
    runner_id: int
    seq: int
    weights_version: int
    env_steps: int
    episode_returns: list[float]


class Sampler(Protocol):
    """What an algorithm samples through (local or remote)."""

    num_env_steps: int
    episode_returns: deque[float]

    def sample(self, num_steps: int, **forward_kwargs: Any) -> list[Rollout]:
        """``num_steps`` steps of every env, with the learner's current weights (``forward_kwargs``
        reach ``forward_exploration``)."""

    def metrics(self) -> dict[str, float]:
        """Sampler-specific metrics for the training log (empty for a local sampler)."""

    def get_state(self) -> dict[str, Any]:
        """Counters as JSON, for resuming a run."""

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores ``get_state``'s result."""

    def close(self) -> None:
        """Releases environments and processes."""


class LocalSampler:
    """Samples in this process with the learner's own module: no weights are copied.

    Example:
        >>> sampler = LocalSampler(EnvRunner("CartPole-v1", 4, seed=0), module)
        >>> [rollout] = sampler.sample(128)      # rollout.data["obs"].shape == (128, 4, 4)
    """

    def __init__(self, runner: EnvRunner, module: Any) -> None:
        self.runner = runner
        self.module = module
        self._seq = 0

    @property
    def num_env_steps(self) -> int:
        return self.runner.num_env_steps

    @property
    def episode_returns(self) -> deque[float]:
        return self.runner.episode_returns

    def sample(self, num_steps: int, **forward_kwargs: Any) -> list[Rollout]:
        episodes_before = self.runner.num_episodes
        data = self.runner.sample(self.module, num_steps, **forward_kwargs)
        finished = self.runner.num_episodes - episodes_before
        # The runner keeps the last RETURN_WINDOW returns: enough for any batch but one
        # holding more episodes than that, whose oldest returns are then not listed.
        returns = list(self.runner.episode_returns)[-finished:] if finished else []
        # The module is the learner's, so its weights are always the newest: the version
        # is the number of batches sampled so far.
        rollout = Rollout(data, runner_id=0, seq=self._seq, weights_version=self._seq,
                          env_steps=num_steps * self.runner.num_envs, episode_returns=returns)
        self._seq += 1
        return [rollout]

    def metrics(self) -> dict[str, float]:
        return {}

    def get_state(self) -> dict[str, Any]:
        return self.runner.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self.runner.set_state(state)

    def close(self) -> None:
        """Nothing to release: the runner belongs to the caller, who closes it."""

