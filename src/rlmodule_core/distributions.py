"""Action distributions, written once against a backend's ``ops`` namespace.

A module's forward pass returns flat distribution inputs ("logits") under
``Columns.ACTION_DIST_INPUTS``; a distribution class turns them into samples,
log-probabilities, entropies and KL divergences on whichever backend made the
tensor. Each instance holds the ``ops`` of its backend: pass ``ops=`` explicitly or
let :func:`ops_for` find it from the tensor type through the backend registry.

Samples have the shape ``sample_shape + batch_shape + event_shape``; ``logp``,
``entropy`` and ``kl`` sum over the event dimensions and return ``batch_shape``
(``logp`` of samples drawn with a ``sample_shape`` returns ``sample_shape +
batch_shape``).

``rng`` is ``None`` (the backend's process-wide default generator), an int seed (the
same seed gives the same samples) or the backend's generator object (see
``ops.as_rng``).

Example:
    >>> import gymnasium as gym
    >>> from rlmodule_numpy import ops
    >>> from rlmodule_core.distributions import get_action_dist_cls
    >>> space = gym.spaces.Discrete(3)
    >>> cls = get_action_dist_cls(space)            # Categorical
    >>> logits = ops.zeros((4, cls.required_input_dim(space)))
    >>> dist = cls.from_logits(logits, ops=ops)
    >>> actions = dist.sample(rng=0)                # shape (4,), values in [0, 3)
    >>> dist.logp(actions).shape
    (4,)
"""

from __future__ import annotations

import abc
import copyreg
import importlib
import math
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

__all__ = [
    "Categorical",
    "Deterministic",
    "DiagGaussian",
    "Distribution",
    "MultiCategorical",
    "MultiDistribution",
    "SquashedGaussian",
    "get_action_dist_cls",
    "ops_for",
]

Tensor = Any
SampleShape = int | Sequence[int]

_LOG2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Gumbel-max takes log(-log(u)); u = 0 would give -inf noise and a NaN gradient path.
_GUMBEL_TINY = 1e-20
# Inverting tanh at exactly +-1 gives +-inf; actions on the bound are pulled inside.
_SQUASH_EPS = 1e-6


def ops_for(x: Tensor) -> ModuleType:
    """The ``ops`` module of the backend whose tensor type ``x`` is.

    Asks the backend registry, so the core never imports a backend itself
    (numpy arrays resolve to the NumPy backend's ops).
    """
    # Imported here: the registry imports backends lazily and may import this module.
    from rlmodule_core import registry

    return registry.ops_for_tensor(x)


def _resolve_ops(x: Tensor, ops: ModuleType | None) -> ModuleType:
    return ops_for(x) if ops is None else ops


def _sample_shape(sample_shape: SampleShape) -> tuple[int, ...]:
    if isinstance(sample_shape, int | np.integer):
        return (int(sample_shape),)
    return tuple(int(s) for s in sample_shape)


def _sum_last(ops: ModuleType, x: Tensor, n: int) -> Tensor:
    # Summing one int axis at a time keeps to the smallest ops contract (no tuple axes).
    for _ in range(n):
        x = ops.sum(x, axis=-1)
    return x


def _space_error(cls: type, expected: str, space: Any) -> ValueError:
    return ValueError(
        f"{cls.__name__}.required_input_dim expected {expected}; received {space!r}. "
        "Pass the action space this distribution is used for, or pick the class with "
        "get_action_dist_cls(action_space)."
    )


def _kind_error(self: Distribution, other: Any, expected: str) -> TypeError:
    return TypeError(
        f"{type(self).__name__}.kl expected {expected}; received {type(other).__name__}. "
        "KL divergences are defined between distributions of the same kind (and the "
        "same action space): build both from the same distribution class."
    )


# ----------------------------------------------------------------------------------------
# Subclasses made by factories (for_nvec, with_bounds, for_shape, for_children)


class _DistributionMeta(abc.ABCMeta):
    """Lets the classes made by factories be pickled and reused.

    A factory-made subclass (``MultiCategorical.for_nvec([2, 3])``) has no importable
    name, yet modules keep such classes as attributes and Ray pickles modules. The
    class pickles as its recipe (base class, factory name, arguments) and unpickles by
    calling the factory again, which returns the cached class.
    """


def _reduce_distribution_class(cls: type) -> Any:
    recipe = cls.__dict__.get("_recipe")
    if recipe is None:
        # A plain string makes pickle store the class by reference, as usual.
        return cls.__qualname__
    return _rebuild_distribution_class, recipe


def _rebuild_distribution_class(base: type, factory: str, args: tuple) -> type:
    return getattr(base, factory)(*args)


copyreg.pickle(_DistributionMeta, _reduce_distribution_class)

_SUBCLASSES: dict[tuple, type] = {}


def _subclass(
    base: type, factory: str, args: tuple, key: tuple, label: str, attrs: dict[str, Any]
) -> type:
    """The cached subclass of ``base`` made by ``base.<factory>(*args)``."""
    cache_key = (base, factory, key)
    cls = _SUBCLASSES.get(cache_key)
    if cls is None:
        name = f"{base.__name__}[{label}]"
        namespace = {
            **attrs,
            "_recipe": (base, factory, args),
            "__module__": base.__module__,
            "__qualname__": name,
        }
        cls = type(base)(name, (base,), namespace)
        _SUBCLASSES[cache_key] = cls
    return cls


# ----------------------------------------------------------------------------------------
# Base class


class Distribution(metaclass=_DistributionMeta):
    """An action distribution over a batch, holding the ``ops`` of its backend.

    Subclasses implement :meth:`from_logits`, :meth:`required_input_dim`,
    :meth:`sample`, :meth:`logp`, :meth:`entropy`, :meth:`kl` and
    :meth:`to_deterministic`; reparameterizable ones also :meth:`rsample`.

    Example:
        >>> dist = Categorical.from_logits(logits, ops=ops)
        >>> actions, logp = dist.sample(rng=0, return_logp=True)
        >>> greedy = dist.to_deterministic().sample()
    """

    def __init__(self, *, ops: ModuleType) -> None:
        self.ops = ops

    # Modules do not pickle; the ops module is stored by name and imported again.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["ops"] = self.ops.__name__
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["ops"] = importlib.import_module(state["ops"])
        self.__dict__.update(state)

    @classmethod
    @abc.abstractmethod
    def from_logits(cls, logits: Tensor, *, ops: ModuleType | None = None) -> Distribution:
        """Builds the distribution from flat inputs of shape ``batch + (input_dim,)``.

        ``ops=None`` finds the backend from the tensor type (:func:`ops_for`).
        """

    @classmethod
    @abc.abstractmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        """The size of the last axis of the logits for ``space``."""

    @property
    @abc.abstractmethod
    def batch_shape(self) -> tuple[int, ...]:
        """The batch dimensions (the shape of ``entropy()``)."""

    @abc.abstractmethod
    def sample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        """Draws actions of shape ``sample_shape + batch_shape + event_shape``.

        With ``return_logp=True`` returns ``(actions, logp)``; for squashed Gaussians
        this logp is computed before squashing, which is more accurate than
        ``logp(actions)`` near the bounds.
        """

    def rsample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        """Draws reparameterized samples (gradients flow to the logits)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no reparameterized sample: its samples are "
            "discrete or fixed, so no gradient flows through them. Use sample() and a "
            "score-function (logp) gradient, or a Gaussian distribution."
        )

    @abc.abstractmethod
    def logp(self, x: Any) -> Tensor:
        """The log-probability of actions ``x``, summed over event dimensions."""

    @abc.abstractmethod
    def entropy(self) -> Tensor:
        """The entropy, summed over event dimensions; shape ``batch_shape``."""

    @abc.abstractmethod
    def kl(self, other: Distribution) -> Tensor:
        """``KL(self || other)``, summed over event dimensions."""

    @abc.abstractmethod
    def to_deterministic(self) -> Distribution:
        """The greedy version: a distribution whose samples are the mode (or mean)."""


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
    :meth:`for_shape` for multi-dimensional Box shapes.

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
    like :class:`DiagGaussian`'s (mean and log_std of ``u``). ``logp`` uses the change
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
        :meth:`for_shape` does) unless the class already has one.
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


# ----------------------------------------------------------------------------------------
# MultiCategorical


class MultiCategorical(Distribution):
    """Independent categoricals for a ``MultiDiscrete(nvec)`` space.

    Inputs concatenate the logits of each sub-space (``sum(nvec)`` values). Build the
    class with :meth:`for_nvec`. Samples are int64 of shape ``batch + nvec.shape``, each
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


# ----------------------------------------------------------------------------------------
# MultiDistribution (Tuple and Dict spaces)


def _items(struct: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, Any]]:
    if isinstance(struct, Mapping):
        return list(struct.items())
    return list(enumerate(struct))


def _rebuild(template: Sequence[Any] | Mapping[str, Any], values: list[Any]) -> Any:
    if isinstance(template, Mapping):
        return dict(zip(template.keys(), values, strict=True))
    return tuple(values)


class MultiDistribution(Distribution):
    """Independent child distributions for a ``Tuple`` or ``Dict`` action space.

    Build the class with :meth:`for_children`; its ``from_logits`` splits the flat
    logits into consecutive chunks, one per child, in the order of the children (for
    a gymnasium ``Dict`` that is the space's key order, sorted unless it was built from
    an ``OrderedDict``). Samples have the structure of the children: a ``tuple`` for a
    sequence of children, a ``dict`` for a mapping, nested for nested spaces.
    ``logp`` takes such a structure (a list works for a tuple) and returns the sum of
    the children's log-probabilities; ``entropy`` and ``kl`` are sums too.

    Example:
        >>> cls = MultiDistribution.for_children(
        ...     {"move": DiagGaussian, "fire": Categorical}, {"move": 4, "fire": 2})
        >>> dist = cls.from_logits(ops.zeros((8, 6)), ops=ops)
        >>> actions = dist.sample(rng=0)   # {"move": (8, 2) float, "fire": (8,) int}
        >>> dist.logp(actions).shape
        (8,)
    """

    child_classes: ClassVar[tuple[type, ...] | dict[str, type] | None] = None
    input_lens: ClassVar[tuple[int, ...] | dict[str, int] | None] = None

    def __init__(
        self,
        children: Sequence[Distribution] | Mapping[str, Distribution],
        *,
        ops: ModuleType,
    ) -> None:
        super().__init__(ops=ops)
        self.children = dict(children) if isinstance(children, Mapping) else tuple(children)
        if not self.children:
            raise ValueError(
                "MultiDistribution expected at least one child distribution; received "
                "none. Tuple and Dict action spaces need at least one sub-space."
            )

    @classmethod
    def for_children(
        cls,
        child_classes_struct: Sequence[type] | Mapping[str, type],
        input_lens_struct: Sequence[int] | Mapping[str, int],
    ) -> type:
        """A subclass for these child classes and their logits sizes (same structure)."""
        is_map = isinstance(child_classes_struct, Mapping)
        ok = is_map == isinstance(input_lens_struct, Mapping) and len(child_classes_struct) == len(
            input_lens_struct
        )
        if ok and is_map:
            ok = list(child_classes_struct) == list(input_lens_struct)
        if ok:
            ok = len(child_classes_struct) > 0 and all(
                isinstance(c, type) and issubclass(c, Distribution) and int(n) > 0
                for (_, c), (_, n) in zip(
                    _items(child_classes_struct), _items(input_lens_struct), strict=True
                )
            )
        if not ok:
            raise ValueError(
                f"{cls.__name__}.for_children expected a non-empty tuple (or dict) of "
                "Distribution classes and a tuple (or dict with the same keys in the same "
                f"order) of positive input sizes; received {child_classes_struct!r} and "
                f"{input_lens_struct!r}. Use get_action_dist_cls(space) for Tuple and Dict "
                "spaces."
            )
        if is_map:
            classes: Any = dict(child_classes_struct)
            lens: Any = {k: int(n) for k, n in input_lens_struct.items()}
            key = (tuple(classes.items()), tuple(lens.items()))
            label = ", ".join(f"{k}: {c.__name__}" for k, c in classes.items())
        else:
            classes = tuple(child_classes_struct)
            lens = tuple(int(n) for n in input_lens_struct)
            key = (classes, lens)
            label = ", ".join(c.__name__ for c in classes)
        return _subclass(
            cls,
            "for_children",
            (classes, lens),
            key,
            label,
            {"child_classes": classes, "input_lens": lens},
        )

    @classmethod
    def from_logits(cls, logits: Tensor, *, ops: ModuleType | None = None) -> MultiDistribution:
        if cls.child_classes is None or cls.input_lens is None:
            raise ValueError(
                "MultiDistribution.from_logits needs the child classes and their input "
                "sizes; received the bare class. Use get_action_dist_cls(space) or "
                "MultiDistribution.for_children(classes, input_lens)."
            )
        ops = _resolve_ops(logits, ops)
        logits = ops.asarray(logits)
        lens = [n for _, n in _items(cls.input_lens)]
        logits_shape = ops.shape(logits)
        if not logits_shape or logits_shape[-1] != sum(lens):
            raise ValueError(
                f"{cls.__name__} expected logits with a last axis of {sum(lens)} (the sum "
                f"of the children's input sizes {lens}); received shape {logits_shape}. "
                "Size the output layer with required_input_dim(action_space)."
            )
        parts = ops.split(logits, list(np.cumsum(lens[:-1]).tolist()), axis=-1)
        children = [
            child.from_logits(part, ops=ops)
            for (_, child), part in zip(_items(cls.child_classes), parts, strict=True)
        ]
        return cls(_rebuild(cls.child_classes, children), ops=ops)

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        if cls.input_lens is not None:
            return int(sum(n for _, n in _items(cls.input_lens)))
        if not isinstance(space, gym.spaces.Tuple | gym.spaces.Dict):
            raise _space_error(cls, "a gymnasium Tuple or Dict space", space)
        subspaces = space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces
        return int(sum(get_action_dist_cls(s).required_input_dim(s) for s in subspaces))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return _items(self.children)[0][1].batch_shape

    def _draw(self, method: str, sample_shape: SampleShape, rng: Any, return_logp: bool) -> Any:
        # One generator for all children, drawn from in order: a seed fixes every part.
        rng = self.ops.as_rng(rng)
        drawn = [
            getattr(child, method)(sample_shape=sample_shape, rng=rng, return_logp=True)
            for _, child in _items(self.children)
        ]
        actions = _rebuild(self.children, [a for a, _ in drawn])
        if return_logp:
            return actions, _total(lp for _, lp in drawn)
        return actions

    def sample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        return self._draw("sample", sample_shape, rng, return_logp)

    def rsample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        return self._draw("rsample", sample_shape, rng, return_logp)

    def _values_of(self, x: Any) -> list[Any]:
        if isinstance(self.children, dict):
            if not isinstance(x, Mapping) or set(x) != set(self.children):
                raise ValueError(
                    f"{type(self).__name__}.logp expected a dict with the keys "
                    f"{list(self.children)}; received {type(x).__name__}"
                    f"{' with keys ' + str(list(x)) if isinstance(x, Mapping) else ''}. "
                    "Pass actions with the structure of the action space."
                )
            return [x[k] for k in self.children]
        if isinstance(x, Mapping) or not isinstance(x, Sequence) or len(x) != len(self.children):
            raise ValueError(
                f"{type(self).__name__}.logp expected a tuple of {len(self.children)} "
                f"actions; received {type(x).__name__}. Pass actions with the structure "
                "of the action space."
            )
        return list(x)

    def logp(self, x: Any) -> Tensor:
        values = self._values_of(x)
        return _total(
            child.logp(v) for (_, child), v in zip(_items(self.children), values, strict=True)
        )

    def entropy(self) -> Tensor:
        return _total(child.entropy() for _, child in _items(self.children))

    def kl(self, other: Distribution) -> Tensor:
        same = isinstance(other, MultiDistribution) and (
            list(self.children) == list(other.children)
            if isinstance(self.children, dict)
            else isinstance(other.children, tuple) and len(other.children) == len(self.children)
        )
        if not same:
            raise _kind_error(self, other, "a MultiDistribution with the same children")
        return _total(
            a.kl(b)
            for (_, a), (_, b) in zip(_items(self.children), _items(other.children), strict=True)
        )

    def to_deterministic(self) -> MultiDistribution:
        children = [child.to_deterministic() for _, child in _items(self.children)]
        return MultiDistribution(_rebuild(self.children, children), ops=self.ops)


# ----------------------------------------------------------------------------------------
# Space -> class


def get_action_dist_cls(action_space: gym.spaces.Space) -> type[Distribution]:
    """The default distribution class for an action space.

    float ``Box`` -> :class:`DiagGaussian` (``DiagGaussian.for_shape(shape)`` unless the
    shape is 1-D), ``Discrete`` -> :class:`Categorical`, ``MultiDiscrete`` ->
    ``MultiCategorical.for_nvec(nvec)``, ``Tuple``/``Dict`` ->
    ``MultiDistribution.for_children(...)`` of the sub-spaces' classes (recursively).

    Discrete samples are indices in ``[0, n)``; the env runner adds ``space.start``.

    Example:
        >>> get_action_dist_cls(gym.spaces.Discrete(4))
        <class 'rlmodule_core.distributions.Categorical'>
    """
    space = action_space
    if isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.floating):
        return DiagGaussian if len(space.shape) == 1 else DiagGaussian.for_shape(space.shape)
    if isinstance(space, gym.spaces.Discrete):
        return Categorical
    if isinstance(space, gym.spaces.MultiDiscrete):
        return MultiCategorical.for_nvec(space.nvec)
    if isinstance(space, gym.spaces.Tuple):
        classes = tuple(get_action_dist_cls(s) for s in space.spaces)
        lens = tuple(c.required_input_dim(s) for c, s in zip(classes, space.spaces, strict=True))
        return MultiDistribution.for_children(classes, lens)
    if isinstance(space, gym.spaces.Dict):
        classes_d = {k: get_action_dist_cls(s) for k, s in space.spaces.items()}
        lens_d = {k: classes_d[k].required_input_dim(s) for k, s in space.spaces.items()}
        return MultiDistribution.for_children(classes_d, lens_d)
    hint = ""
    if isinstance(space, gym.spaces.Box):
        hint = " An integer Box is not supported: use MultiDiscrete, or a float Box."
    elif isinstance(space, gym.spaces.MultiBinary):
        hint = " For MultiBinary(n) use MultiDiscrete([2] * n)."
    raise ValueError(
        "Expected a float Box, Discrete, MultiDiscrete, Tuple or Dict action space; "
        f"received {space!r}.{hint} Fix: change the action space, or pass your own "
        "Distribution subclass to the module instead of relying on the default."
    )
