"""The Distribution base class, the factory-made subclasses and the shared helpers."""

from __future__ import annotations

import abc
import copyreg
import importlib
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core.backend import registry

__all__ = ["Distribution", "ops_for"]

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

    Subclasses implement ``from_logits``, ``required_input_dim``,
    ``sample``, ``logp``, ``entropy``, ``kl`` and
    ``to_deterministic``; reparameterizable ones also ``rsample``.

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

        ``ops=None`` finds the backend from the tensor type (``ops_for``).
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


