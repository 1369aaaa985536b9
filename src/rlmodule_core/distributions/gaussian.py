"""DiagGaussian and the tanh-squashed SquashedGaussian (Box actions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlmodule_core.distributions._base import (
    _HALF_LOG_2PI,
    _LOG2,
    _SQUASH_EPS,
    Distribution,
    SampleShape,
    Tensor,
    _kind_error,
    _resolve_ops,
    _sample_shape,
    _space_error,
    _subclass,
    _sum_last,
)
from rlmodule_core.distributions.deterministic import Deterministic

__all__ = ["DiagGaussian", "SquashedGaussian"]

# ----------------------------------------------------------------------------------------
# Gaussians


class _Gaussian(Distribution):
    """Shared parts of the diagonal Gaussians: inputs, shapes and Gaussian maths."""

    # None: the event is the last axis of the mean (Box of shape (k,)). Otherwise the
    # logits hold 2 * prod(action_shape) values and means are reshaped to it.
    action_shape: ClassVar[tuple[int, ...] | None] = None

    def __init__(self, mean: Tensor, log_std: Tensor, *, ops: ModuleType) -> None:
        super().__init__(ops=ops)
        self.mean = mean
        self.log_std = log_std
        shape = type(self).action_shape
        self.event_ndim = 1 if shape is None else len(shape)

    @classmethod
    def for_shape(cls, shape: Sequence[int]) -> type:
        """A subclass for actions of ``shape`` (logits of size ``2 * prod(shape)``)."""
        shape = tuple(int(s) for s in shape)
        if any(s < 1 for s in shape):
            raise ValueError(
                f"{cls.__name__}.for_shape expected a shape of positive sizes; received "
                f"{shape}. Pass the action space's shape, e.g. Box(...).shape."
            )
        return _subclass(
            cls, "for_shape", (shape,), shape, f"shape={shape}", {"action_shape": shape}
        )

    @classmethod
    def from_logits(cls, logits: Tensor, *, ops: ModuleType | None = None) -> _Gaussian:
        ops = _resolve_ops(logits, ops)
        logits = ops.asarray(logits)
        logits_shape = ops.shape(logits)
        size = logits_shape[-1] if logits_shape else 0
        if cls.action_shape is not None:
            expected = 2 * math.prod(cls.action_shape)
            if size != expected:
                raise ValueError(
                    f"{cls.__name__} expected logits with a last axis of {expected} "
                    f"(mean and log_std for actions of shape {cls.action_shape}); received "
                    f"shape {logits_shape}. Size the output layer with "
                    "required_input_dim(action_space)."
                )
        elif size == 0 or size % 2:
            raise ValueError(
                f"{cls.__name__} expected logits whose last axis concatenates the mean and "
                f"log_std (an even size >= 2); received shape {logits_shape}. Size the "
                "output layer with required_input_dim(action_space)."
            )
        mean, log_std = ops.split(logits, 2, axis=-1)
        if cls.action_shape is not None and cls.action_shape != (size // 2,):
            target = logits_shape[:-1] + cls.action_shape
            mean, log_std = ops.reshape(mean, target), ops.reshape(log_std, target)
        return cls(mean, log_std, ops=ops)

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        if not isinstance(space, gym.spaces.Box):
            raise _space_error(cls, "a gymnasium Box space", space)
        return 2 * int(math.prod(space.shape))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        shape = self.ops.shape(self.mean)
        return shape[: len(shape) - self.event_ndim]

    @property
    def std(self) -> Tensor:
        return self.ops.exp(self.log_std)

    def _draw_unsquashed(self, sample_shape: SampleShape, rng: Any) -> Tensor:
        ops = self.ops
        shape = _sample_shape(sample_shape) + ops.shape(self.mean)
        return self.mean + self.std * ops.normal(ops.as_rng(rng), shape)

    def _gaussian_logp(self, u: Tensor) -> Tensor:
        z = (u - self.mean) * self.ops.exp(-self.log_std)
        return -0.5 * self.ops.square(z) - self.log_std - _HALF_LOG_2PI

    def _gaussian_kl(self, other: _Gaussian) -> Tensor:
        ops = self.ops
        var_ratio = ops.exp(2.0 * (self.log_std - other.log_std))
        mean_term = ops.square((self.mean - other.mean) * ops.exp(-other.log_std))
        per_dim = other.log_std - self.log_std + 0.5 * (var_ratio + mean_term) - 0.5
        return _sum_last(ops, per_dim, self.event_ndim)


class DiagGaussian(_Gaussian):
    """A Gaussian with diagonal covariance over float ``Box`` actions.

    Inputs concatenate ``mean`` and ``log_std`` on the last axis. ``log_std`` is used
    as given (no clipping): bound it in the module if it needs bounding. Use
    ``for_shape`` for multi-dimensional Box shapes.

    Example:
        >>> logits = ops.asarray([[0.0, 1.0, -1.0, -1.0]])   # mean (0, 1), log_std -1
        >>> dist = DiagGaussian.from_logits(logits, ops=ops)
        >>> dist.sample(sample_shape=(5,), rng=0).shape
        (5, 1, 2)
        >>> dist.to_deterministic().sample()
        array([[0., 1.]], dtype=float32)
    """

    def sample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        actions = self.ops.stop_gradient(self._draw_unsquashed(sample_shape, rng))
        if return_logp:
            return actions, self.logp(actions)
        return actions

    def rsample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        actions = self._draw_unsquashed(sample_shape, rng)
        if return_logp:
            return actions, self.logp(actions)
        return actions

    def logp(self, x: Any) -> Tensor:
        return _sum_last(self.ops, self._gaussian_logp(self.ops.asarray(x)), self.event_ndim)

    def entropy(self) -> Tensor:
        return _sum_last(self.ops, self.log_std + (0.5 + _HALF_LOG_2PI), self.event_ndim)

    def kl(self, other: Distribution) -> Tensor:
        if not isinstance(other, DiagGaussian):
            raise _kind_error(self, other, "a DiagGaussian")
        return self._gaussian_kl(other)

    def to_deterministic(self) -> Deterministic:
        return Deterministic(self.mean, ops=self.ops, event_ndim=self.event_ndim)


def _bound(values: np.ndarray) -> float | np.ndarray:
    # A bound that is the same everywhere stays a Python float: it mixes with tensors of
    # any float dtype on every backend and costs no conversion per call.
    flat = values.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return float(flat[0])
    return values.astype(np.float32)


class SquashedGaussian(_Gaussian):
    """A diagonal Gaussian squashed by ``tanh`` onto ``[low, high]`` (default ``[-1, 1]``).

    ``action = low + (tanh(u) + 1) * (high - low) / 2`` with ``u`` Gaussian; inputs are
    like ``DiagGaussian``'s (mean and log_std of ``u``). ``logp`` uses the change
    of variables with the stable ``log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u))``;
    ``sample(return_logp=True)`` gives the log-probability computed from ``u`` (exact
    even where ``tanh`` rounds to the bound). The entropy has no closed form: it is
    computed by quadrature (error below 1e-5 nats per dimension). ``kl`` between two
    squashed Gaussians with the same bounds equals the KL of the Gaussians (KL is
    invariant under the same bijection).

    Example:
        >>> Squashed = SquashedGaussian.with_bounds(low=0.0, high=2.0)
        >>> dist = Squashed.from_logits(ops.asarray([[0.0, 0.0]]), ops=ops)
        >>> actions, logp = dist.rsample(rng=0, return_logp=True)   # actions in [0, 2]
        >>> dist.to_deterministic().sample()
        array([[1.]], dtype=float32)
    """

    low: ClassVar[float | np.ndarray] = -1.0
    high: ClassVar[float | np.ndarray] = 1.0

    def __init__(self, mean: Tensor, log_std: Tensor, *, ops: ModuleType) -> None:
        super().__init__(mean, log_std, ops=ops)
        cls = type(self)
        low, high = cls.low, cls.high
        if isinstance(low, float) and isinstance(high, float):
            self._center = 0.5 * (high + low)
            self._scale = 0.5 * (high - low)
            self._log_scale = math.log(self._scale)
        else:
            low = np.asarray(low, dtype=np.float64)
            high = np.asarray(high, dtype=np.float64)
            self._center = ops.asarray(0.5 * (high + low), dtype="float32")
            self._scale = ops.asarray(0.5 * (high - low), dtype="float32")
            self._log_scale = ops.asarray(np.log(0.5 * (high - low)), dtype="float32")

    @classmethod
    def with_bounds(cls, low: float | np.ndarray, high: float | np.ndarray) -> type:
        """A subclass squashing onto ``[low, high]`` (scalars or arrays, e.g. a Box's).

        Array bounds of shape ``s`` also fix the action shape to ``s`` (as
        ``for_shape`` does) unless the class already has one.
        """
        lo = np.asarray(low, dtype=np.float64)
        hi = np.asarray(high, dtype=np.float64)
        try:
            shape = np.broadcast_shapes(lo.shape, hi.shape)
        except ValueError:
            shape = None
        if (
            shape is None
            or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)))
            or not np.all(lo < hi)
        ):
            raise ValueError(
                f"{cls.__name__}.with_bounds expected finite bounds of broadcastable "
                f"shapes with low < high; received low={low!r}, high={high!r}. A Box with "
                "infinite bounds cannot be squashed: use DiagGaussian for it."
            )
        lo, hi = np.broadcast_to(lo, shape), np.broadcast_to(hi, shape)
        attrs: dict[str, Any] = {"low": _bound(lo), "high": _bound(hi)}
        if shape and cls.action_shape is None:
            attrs["action_shape"] = tuple(int(s) for s in shape)
        elif shape and cls.action_shape is not None:
            try:
                np.broadcast_shapes(shape, cls.action_shape)
            except ValueError:
                raise ValueError(
                    f"{cls.__name__}.with_bounds expected bounds broadcastable to the "
                    f"action shape {cls.action_shape}; received shape {shape}. Pass "
                    "bounds of the action space's shape."
                ) from None
        key = (shape, tuple(lo.reshape(-1).tolist()), tuple(hi.reshape(-1).tolist()))
        if isinstance(attrs["low"], float) and isinstance(attrs["high"], float):
            label = f"low={attrs['low']:g}, high={attrs['high']:g}"
        else:
            label = f"bounds of shape {shape}"
        return _subclass(cls, "with_bounds", (lo.copy(), hi.copy()), key, label, attrs)

    def _squash(self, u: Tensor) -> Tensor:
        return self._center + self._scale * self.ops.tanh(u)

    def _log_det_jacobian(self, u: Tensor) -> Tensor:
        # d action / d u = scale * (1 - tanh(u)^2); the form below never takes the log of
        # a number that rounded to 0 (1 - tanh(u)^2 does for |u| > ~9 in float32).
        ops = self.ops
        return 2.0 * (_LOG2 - u - ops.softplus(-2.0 * u)) + self._log_scale

    def _logp_unsquashed(self, u: Tensor) -> Tensor:
        per_dim = self._gaussian_logp(u) - self._log_det_jacobian(u)
        return _sum_last(self.ops, per_dim, self.event_ndim)

    def sample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        u = self.ops.stop_gradient(self._draw_unsquashed(sample_shape, rng))
        actions = self._squash(u)
        if return_logp:
            return actions, self._logp_unsquashed(u)
        return actions

    def rsample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        u = self._draw_unsquashed(sample_shape, rng)
        actions = self._squash(u)
        if return_logp:
            return actions, self._logp_unsquashed(u)
        return actions

    def logp(self, x: Any) -> Tensor:
        ops = self.ops
        y = (ops.asarray(x) - self._center) / self._scale
        y = ops.clip(y, -1.0 + _SQUASH_EPS, 1.0 - _SQUASH_EPS)
        u = 0.5 * (ops.log1p(y) - ops.log1p(-y))  # atanh(y)
        return self._logp_unsquashed(u)

    def entropy(self) -> Tensor:
        # H(action) = H(u) + E[log|d action / d u|]; the expectation is computed per
        # dimension by _expected_log_det_tanh (quadrature, no closed form exists).
        ops = self.ops
        per_dim = (
            self.log_std
            + (0.5 + _HALF_LOG_2PI)
            + _expected_log_det_tanh(ops, self.mean, self.std)
            + self._log_scale
        )
        return _sum_last(ops, per_dim, self.event_ndim)

    def kl(self, other: Distribution) -> Tensor:
        if not isinstance(other, SquashedGaussian):
            raise _kind_error(self, other, "a SquashedGaussian")
        if not (
            np.array_equal(type(self).low, type(other).low)
            and np.array_equal(type(self).high, type(other).high)
        ):
            raise ValueError(
                f"{type(self).__name__}.kl expected the other distribution to squash onto "
                f"the same bounds [{type(self).low}, {type(self).high}]; received "
                f"[{type(other).low}, {type(other).high}]. Build both with the same "
                "SquashedGaussian.with_bounds(low, high) class."
            )
        return self._gaussian_kl(other)

    def to_deterministic(self) -> Deterministic:
        return Deterministic(self._squash(self.mean), ops=self.ops, event_ndim=self.event_ndim)


# Quadrature for E[log(1 - tanh(u)^2)], u ~ N(mean, std), computed once on first use.
_QUADRATURE: dict[str, np.ndarray] = {}
# Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7): erf from exp only, which every
# backend's ops has.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
# log(1 + exp(-2|u|)) is below 1e-10 beyond |u| = 12: the integral is cut there.
_TAIL_CUT = 12.0


def _quadrature() -> dict[str, np.ndarray]:
    if not _QUADRATURE:
        nodes, weights = np.polynomial.hermite_e.hermegauss(32)
        _QUADRATURE["gh_nodes"] = nodes.astype(np.float32)
        _QUADRATURE["gh_weights"] = (weights / math.sqrt(2.0 * math.pi)).astype(np.float32)
        nodes, weights = np.polynomial.legendre.leggauss(48)
        _QUADRATURE["gl_nodes"] = ((nodes + 1.0) * (0.5 * _TAIL_CUT)).astype(np.float32)
        _QUADRATURE["gl_weights"] = (weights * (0.5 * _TAIL_CUT)).astype(np.float32)
    return _QUADRATURE


def _erf(ops: ModuleType, x: Tensor) -> Tensor:
    a = ops.abs(x)
    t = 1.0 / (1.0 + _ERF_P * a)
    poly = t * (_ERF_A[0] + t * (_ERF_A[1] + t * (_ERF_A[2] + t * (_ERF_A[3] + t * _ERF_A[4]))))
    magnitude = 1.0 - poly * ops.exp(-a * a)
    return ops.where(x < 0, -magnitude, magnitude)


def _expected_log_det_tanh(ops: ModuleType, mean: Tensor, std: Tensor) -> Tensor:
    """``E[log(1 - tanh(u)^2)]`` for ``u ~ N(mean, std)``, elementwise.

    ``f(u) = log(1 - tanh(u)^2)`` is smooth but bends sharply at 0 on the scale of a
    wide Gaussian, so Gauss-Hermite alone is exact only for ``std <= 1``. For wider
    Gaussians ``f(u) = 2 log 2 - 2|u| - 2 log(1 + exp(-2|u|))``: ``E|u|`` has a closed
    form and the last term vanishes beyond ``|u| = 12``, so it is integrated against
    the Gaussian density on ``[0, 12]`` by Gauss-Legendre (the integrand is smooth
    there for ``std > 1``).
    """
    q = _quadrature()
    mean_k = ops.expand_dims(mean, -1)

    # Narrow Gaussians: Gauss-Hermite on f.
    u = mean_k + ops.expand_dims(std, -1) * ops.asarray(q["gh_nodes"])
    f = 2.0 * (_LOG2 - u - ops.softplus(-2.0 * u))
    narrow = ops.sum(f * ops.asarray(q["gh_weights"]), axis=-1)

    # Wide Gaussians. std is floored at 1 so that the branch not taken stays finite
    # (no NaN gradients through where()).
    wide_std = ops.maximum(std, ops.ones_like(std))
    z = mean / (wide_std * math.sqrt(2.0))
    expected_abs = wide_std * math.sqrt(2.0 / math.pi) * ops.exp(-z * z) + mean * _erf(ops, z)
    v = ops.asarray(q["gl_nodes"])
    s_k = ops.expand_dims(wide_std, -1)
    density = (
        ops.exp(-0.5 * ops.square((v - mean_k) / s_k))
        + ops.exp(-0.5 * ops.square((v + mean_k) / s_k))
    ) / (s_k * math.sqrt(2.0 * math.pi))
    tail = -2.0 * ops.softplus(-2.0 * v)
    wide = (
        2.0 * _LOG2
        - 2.0 * expected_abs
        + ops.sum(tail * density * ops.asarray(q["gl_weights"]), axis=-1)
    )
    return ops.where(std <= 1.0, narrow, wide)


