"""Deterministic: a point mass (the greedy form of every distribution)."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import gymnasium as gym

from rlmodule_core.distributions._base import (
    Distribution,
    SampleShape,
    Tensor,
    _kind_error,
    _resolve_ops,
    _sample_shape,
    _space_error,
)

__all__ = ["Deterministic"]

# ----------------------------------------------------------------------------------------
# Deterministic


class Deterministic(Distribution):
    """A point mass at ``loc``: sampling returns ``loc`` (greedy actions).

    By convention ``logp``, ``entropy`` and ``kl`` are zeros of the batch shape.
    ``from_logits`` takes ``loc`` directly (the last axis is the event axis).

    Example:
        >>> dist = Deterministic.from_logits(ops.asarray([[0.5, -0.5]]), ops=ops)
        >>> dist.sample()
        array([[ 0.5, -0.5]], dtype=float32)
    """

    def __init__(self, loc: Tensor, *, ops: ModuleType, event_ndim: int = 1) -> None:
        super().__init__(ops=ops)
        self.loc = loc
        self.event_ndim = int(event_ndim)

    @classmethod
    def from_logits(cls, logits: Tensor, *, ops: ModuleType | None = None) -> Deterministic:
        ops = _resolve_ops(logits, ops)
        return cls(ops.asarray(logits), ops=ops, event_ndim=1)

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        if not isinstance(space, gym.spaces.Box):
            raise _space_error(cls, "a gymnasium Box space", space)
        return int(math.prod(space.shape))

    def _batch_of(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape[: len(shape) - self.event_ndim]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._batch_of(self.ops.shape(self.loc))

    def sample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        ops = self.ops
        extra = _sample_shape(sample_shape)
        actions = ops.broadcast_to(self.loc, extra + ops.shape(self.loc)) if extra else self.loc
        if return_logp:
            return actions, self.logp(actions)
        return actions

    def logp(self, x: Any) -> Tensor:
        return self.ops.zeros(self._batch_of(self.ops.shape(x)))

    def entropy(self) -> Tensor:
        return self.ops.zeros(self.batch_shape)

    def kl(self, other: Distribution) -> Tensor:
        if not isinstance(other, Deterministic):
            raise _kind_error(self, other, "a Deterministic")
        return self.ops.zeros(self.batch_shape)

    def to_deterministic(self) -> Deterministic:
        return self


