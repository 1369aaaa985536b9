"""Categorical (Discrete actions) and MultiCategorical (MultiDiscrete actions)."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlmodule_core.distributions._base import (
    _GUMBEL_TINY,
    Distribution,
    SampleShape,
    Tensor,
    _kind_error,
    _resolve_ops,
    _sample_shape,
    _space_error,
    _subclass,
)
from rlmodule_core.distributions.deterministic import Deterministic

__all__ = ["Categorical", "MultiCategorical"]

# ----------------------------------------------------------------------------------------
# Categorical


class Categorical(Distribution):
    """A categorical distribution over ``n`` choices (``Discrete(n)``).

    Samples are indices in ``[0, n)`` (int64). A ``Discrete(n, start=s)`` space means
    the environment action is ``index + s``: the env runner adds ``start``.

    Example:
        >>> dist = Categorical.from_logits(ops.asarray([[0.0, 1.0, 2.0]]), ops=ops)
        >>> dist.sample(rng=0).shape
        (1,)
        >>> dist.to_deterministic().sample()
        array([2])
    """

    def __init__(self, logits: Tensor, *, ops: ModuleType) -> None:
        super().__init__(ops=ops)
        self.logits = logits
        self._log_probs: Tensor | None = None

    @classmethod
    def from_logits(cls, logits: Tensor, *, ops: ModuleType | None = None) -> Categorical:
        ops = _resolve_ops(logits, ops)
        return cls(ops.asarray(logits), ops=ops)

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        if not isinstance(space, gym.spaces.Discrete):
            raise _space_error(cls, "a gymnasium Discrete space", space)
        return int(space.n)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.ops.shape(self.logits)[:-1]

    @property
    def log_probs(self) -> Tensor:
        """Normalized log-probabilities (computed once, on first use)."""
        if self._log_probs is None:
            self._log_probs = self.ops.log_softmax(self.logits, axis=-1)
        return self._log_probs

    @property
    def probs(self) -> Tensor:
        return self.ops.exp(self.log_probs)

    def sample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        ops = self.ops
        shape = _sample_shape(sample_shape) + ops.shape(self.logits)
        # Gumbel-max: argmax(logits + Gumbel noise) is an exact categorical draw and
        # needs only a uniform source, which every backend has.
        u = ops.clip(ops.uniform(ops.as_rng(rng), shape), _GUMBEL_TINY, 1.0)
        actions = ops.argmax(self.logits - ops.log(-ops.log(u)), axis=-1)
        if return_logp:
            return actions, self.logp(actions)
        return actions

    def logp(self, x: Any) -> Tensor:
        ops = self.ops
        x = ops.cast(ops.asarray(x), "int64")
        log_probs = self.log_probs
        x_shape = ops.shape(x)
        # Compare ranks, not shapes: ranks stay static under tracing (tf.function with
        # an unknown batch size), so a compiled loss need not retrace per batch size.
        if len(x_shape) != len(ops.shape(log_probs)) - 1:
            # Actions with leading sample dimensions: broadcast the table to them.
            log_probs = ops.broadcast_to(log_probs, x_shape + ops.shape(log_probs)[-1:])
        picked = ops.take_along_axis(log_probs, ops.expand_dims(x, -1), axis=-1)
        return ops.squeeze(picked, -1)

    def _masked_log_probs(self, probs: Tensor, log_probs: Tensor) -> Tensor:
        # Masked actions (logit -inf) have p = 0 and log p = -inf; 0 * -inf is NaN, but
        # their contribution is 0, so their log p is replaced before multiplying.
        return self.ops.where(probs > 0, log_probs, self.ops.zeros_like(log_probs))

    def entropy(self) -> Tensor:
        ops = self.ops
        probs = self.probs
        return -ops.sum(probs * self._masked_log_probs(probs, self.log_probs), axis=-1)

    def kl(self, other: Distribution) -> Tensor:
        if not isinstance(other, Categorical):
            raise _kind_error(self, other, "a Categorical")
        ops = self.ops
        probs = self.probs
        log_p = self._masked_log_probs(probs, self.log_probs)
        log_q = self._masked_log_probs(probs, other.log_probs)
        return ops.sum(probs * (log_p - log_q), axis=-1)

    def to_deterministic(self) -> Deterministic:
        return Deterministic(self.ops.argmax(self.logits, axis=-1), ops=self.ops, event_ndim=0)



# ----------------------------------------------------------------------------------------
# MultiCategorical


class MultiCategorical(Distribution):
    """Independent categoricals for a ``MultiDiscrete(nvec)`` space.

    Inputs concatenate the logits of each sub-space (``sum(nvec)`` values). Build the
    class with ``for_nvec``. Samples are int64 of shape ``batch + nvec.shape``, each
    entry in ``[0, nvec[i])``; the env runner adds the space's ``start``.

    Example:
        >>> cls = MultiCategorical.for_nvec([2, 3])
        >>> dist = cls.from_logits(ops.zeros((4, 5)), ops=ops)
        >>> dist.sample(rng=0).shape
        (4, 2)
    """

    nvec: ClassVar[tuple[int, ...] | None] = None
    nvec_shape: ClassVar[tuple[int, ...] | None] = None

    def __init__(self, categoricals: Sequence[Categorical], *, ops: ModuleType) -> None:
        super().__init__(ops=ops)
        self.categoricals = list(categoricals)
        nvec_shape = type(self).nvec_shape
        self.event_shape = (len(self.categoricals),) if nvec_shape is None else nvec_shape

    @classmethod
    def for_nvec(cls, nvec: Sequence[int] | np.ndarray) -> type:
        """A subclass for ``MultiDiscrete(nvec)`` (nvec of any shape)."""
        arr = np.asarray(nvec)
        if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 1):
            raise ValueError(
                f"{cls.__name__}.for_nvec expected a non-empty array of integers >= 1; "
                f"received {nvec!r}. Pass MultiDiscrete(...).nvec."
            )
        flat = tuple(int(n) for n in arr.reshape(-1))
        shape = tuple(int(s) for s in arr.shape)
        label = f"nvec={list(flat)}" if len(shape) == 1 else f"nvec={arr.tolist()}"
        return _subclass(
            cls,
            "for_nvec",
            (arr.tolist(),),
            (flat, shape),
            label,
            {"nvec": flat, "nvec_shape": shape},
        )

    @classmethod
    def from_logits(cls, logits: Tensor, *, ops: ModuleType | None = None) -> MultiCategorical:
        if cls.nvec is None:
            raise ValueError(
                "MultiCategorical.from_logits needs the sizes of the sub-spaces; received "
                "the bare class. Use MultiCategorical.for_nvec(space.nvec).from_logits(...)."
            )
        ops = _resolve_ops(logits, ops)
        logits = ops.asarray(logits)
        logits_shape = ops.shape(logits)
        if not logits_shape or logits_shape[-1] != sum(cls.nvec):
            raise ValueError(
                f"{cls.__name__} expected logits with a last axis of sum(nvec) = "
                f"{sum(cls.nvec)}; received shape {logits_shape}. Size the output layer "
                "with required_input_dim(action_space)."
            )
        parts = ops.split(logits, list(np.cumsum(cls.nvec[:-1]).tolist()), axis=-1)
        return cls([Categorical(p, ops=ops) for p in parts], ops=ops)

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        if not isinstance(space, gym.spaces.MultiDiscrete):
            raise _space_error(cls, "a gymnasium MultiDiscrete space", space)
        return int(np.sum(space.nvec))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.categoricals[0].batch_shape

    def _to_event(self, flat: Tensor) -> Tensor:
        if len(self.event_shape) == 1:
            return flat
        shape = self.ops.shape(flat)
        return self.ops.reshape(flat, shape[:-1] + self.event_shape)

    def sample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        ops = self.ops
        rng = ops.as_rng(rng)
        parts = [c.sample(sample_shape=sample_shape, rng=rng) for c in self.categoricals]
        actions = self._to_event(ops.stack(parts, axis=-1))
        if return_logp:
            return actions, self.logp(actions)
        return actions

    def logp(self, x: Any) -> Tensor:
        ops = self.ops
        x = ops.asarray(x)
        shape = ops.shape(x)
        prefix = shape[: len(shape) - len(self.event_shape)]
        if len(self.event_shape) != 1:
            x = ops.reshape(x, prefix + (len(self.categoricals),))
        parts = ops.split(x, len(self.categoricals), axis=-1)
        total = None
        for cat, part in zip(self.categoricals, parts, strict=True):
            lp = cat.logp(ops.squeeze(part, -1))
            total = lp if total is None else total + lp
        return total

    def entropy(self) -> Tensor:
        return _total(c.entropy() for c in self.categoricals)

    def kl(self, other: Distribution) -> Tensor:
        if not isinstance(other, MultiCategorical) or len(other.categoricals) != len(
            self.categoricals
        ):
            raise _kind_error(
                self, other, f"a MultiCategorical with {len(self.categoricals)} parts"
            )
        return _total(a.kl(b) for a, b in zip(self.categoricals, other.categoricals, strict=True))

    def to_deterministic(self) -> Deterministic:
        ops = self.ops
        modes = ops.stack([ops.argmax(c.logits, axis=-1) for c in self.categoricals], axis=-1)
        return Deterministic(self._to_event(modes), ops=ops, event_ndim=len(self.event_shape))


def _total(values: Any) -> Tensor:
    total = None
    for v in values:
        total = v if total is None else total + v
    return total


