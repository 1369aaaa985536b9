"""The NumPy ``ops`` namespace: the reference implementation of the backend contract.

Neutral code (distributions, default modules, losses) is written once against these
names; every backend ships a module with the same functions and the same semantics
(see ``docs/backend-contract.md``). NumPy has no autodiff, so ``stop_gradient`` is the
identity here.

Floating-point results default to ``float32`` like the deep-learning frameworks: Python
scalars and lists become ``float32`` tensors, and creation and random functions make
``float32`` unless told otherwise. Arrays that already are ``np.ndarray`` keep their
dtype.

Example:
    >>> from rlmodule_numpy import ops
    >>> x = ops.asarray([[1.0, 2.0, 3.0]])
    >>> ops.log_softmax(x).dtype
    dtype('float32')
    >>> r = ops.rng(0)
    >>> ops.shape(ops.normal(r, (2, 3)))
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Spelled out, not read from rlmodule_core.backend.contract: this file imports only NumPy
# and the standard library (tests/core/test_numpy_ops.py), so it can be read alone.
__all__ = [
    "abs",
    "arange",
    "argmax",
    "as_rng",
    "asarray",
    "broadcast_to",
    "cast",
    "clip",
    "concatenate",
    "exp",
    "expand_dims",
    "full",
    "linspace",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "normal",
    "one_hot",
    "ones",
    "ones_like",
    "relu",
    "reshape",
    "rng",
    "shape",
    "sigmoid",
    "softmax",
    "softplus",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "stop_gradient",
    "sum",
    "take_along_axis",
    "tanh",
    "to_numpy",
    "uniform",
    "where",
    "zeros",
    "zeros_like",
]

Tensor = np.ndarray
Shape = int | Sequence[int]


def _dtype(dtype: Any) -> np.dtype:
    return np.dtype(dtype)


def _shape(shape: Shape) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _floating(x: Any) -> np.ndarray:
    """``x`` as a floating array; integer and bool inputs become float32 (as in torch)."""
    x = asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32)
    return x


# ----------------------------------------------------------------------------------------
# conversion


def asarray(x: Any, dtype: Any = None) -> Tensor:
    """``x`` as an ndarray; no copy when it already is one of that dtype.

    Python floats and lists of floats become float32 (NumPy would make float64), so a
    constant written in neutral code has the same dtype on every backend.
    """
    if dtype is not None:
        return np.asarray(x, dtype=_dtype(dtype))
    if isinstance(x, np.ndarray):
        return x
    arr = np.asarray(x)
    if arr.dtype == np.float64 and not isinstance(x, np.generic):
        return arr.astype(np.float32)
    return arr


def to_numpy(x: Any) -> np.ndarray:
    return np.asarray(x)


_FLOAT32 = np.dtype(np.float32)


def cast(x: Any, dtype: Any) -> Tensor:
    # The common no-op (observations are float32), without a dtype look-up; the identity
    # test costs a third of ``x.dtype == np.float32``, which converts the type each time.
    if type(x) is np.ndarray and x.dtype is _FLOAT32 and dtype == "float32":
        return x
    return np.asarray(x).astype(_dtype(dtype), copy=False)


def shape(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in np.shape(x))


# ----------------------------------------------------------------------------------------
# shaping


def reshape(x: Any, shape: Shape) -> Tensor:
    if type(x) is np.ndarray and type(shape) is tuple:
        try:
            return x.reshape(shape)  # the common case, without normalizing the shape
        except TypeError:
            pass  # e.g. float sizes, which _shape accepts
    return np.reshape(asarray(x), _shape(shape))


def concatenate(xs: Sequence[Any], axis: int = -1) -> Tensor:
    return np.concatenate([asarray(x) for x in xs], axis=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    return np.stack([asarray(x) for x in xs], axis=axis)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = -1) -> list[Tensor]:
    """NumPy semantics: an int is a number of equal sections, a list gives split indices."""
    if not isinstance(indices_or_sections, int | np.integer):
        indices_or_sections = [int(i) for i in indices_or_sections]
    return list(np.split(asarray(x), indices_or_sections, axis=axis))


def squeeze(x: Any, axis: int | Sequence[int]) -> Tensor:
    if not isinstance(axis, int | np.integer):
        axis = tuple(axis)
    return np.squeeze(asarray(x), axis=axis)


def expand_dims(x: Any, axis: int | Sequence[int]) -> Tensor:
    if not isinstance(axis, int | np.integer):
        axis = tuple(axis)
    return np.expand_dims(asarray(x), axis)


def broadcast_to(x: Any, shape: Shape) -> Tensor:
    return np.broadcast_to(asarray(x), _shape(shape))


# ----------------------------------------------------------------------------------------
# reductions


def _axis(axis: Any) -> Any:
    if axis is None or isinstance(axis, int | np.integer):
        return axis
    return tuple(axis)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return np.sum(asarray(x), axis=_axis(axis), keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return np.mean(_floating(x), axis=_axis(axis), keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return np.max(asarray(x), axis=_axis(axis), keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return np.min(asarray(x), axis=_axis(axis), keepdims=keepdims)


def argmax(x: Any, axis: int = -1) -> Tensor:
    return np.argmax(asarray(x), axis=axis).astype(np.int64, copy=False)


def _finite_max(x: np.ndarray, axis: Any) -> np.ndarray:
    # Shifting by the max keeps exp() from overflowing; a slice that is all -inf (or
    # has a +inf) would give inf - inf = nan, so such slices are shifted by 0 instead.
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, np.zeros_like(m))


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Tensor:
    x = _floating(x)
    axis = _axis(axis)
    m = _finite_max(x, axis)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


# ----------------------------------------------------------------------------------------
# elementwise


def exp(x: Any) -> Tensor:
    return np.exp(_floating(x))


def log(x: Any) -> Tensor:
    return np.log(_floating(x))


def log1p(x: Any) -> Tensor:
    return np.log1p(_floating(x))


def tanh(x: Any) -> Tensor:
    return np.tanh(_floating(x))


def sqrt(x: Any) -> Tensor:
    return np.sqrt(_floating(x))


def square(x: Any) -> Tensor:
    return np.square(asarray(x))


def abs(x: Any) -> Tensor:
    return np.abs(asarray(x))


def sigmoid(x: Any) -> Tensor:
    # exp(-|x|) never overflows; both branches are exact in their own half-line.
    x = _floating(x)
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z)).astype(x.dtype, copy=False)


def softplus(x: Any) -> Tensor:
    # log(1 + exp(x)) overflows for large x; logaddexp(0, x) does not.
    x = _floating(x)
    return np.logaddexp(x.dtype.type(0), x)


def relu(x: Any) -> Tensor:
    x = asarray(x)
    return np.maximum(x, x.dtype.type(0))


def _operands(a: Any, b: Any) -> tuple[Any, Any]:
    """A Python number beside an array stays a number, so it takes the array's dtype.

    (``asarray(1)`` is an int64 array, and float32 with int64 gives float64; torch, TF
    and JAX keep float32.)
    """
    a_number, b_number = isinstance(a, int | float), isinstance(b, int | float)
    if a_number != b_number:
        return (a if a_number else asarray(a)), (b if b_number else asarray(b))
    return asarray(a), asarray(b)


def maximum(a: Any, b: Any) -> Tensor:
    return np.maximum(*_operands(a, b))


def minimum(a: Any, b: Any) -> Tensor:
    return np.minimum(*_operands(a, b))


def clip(x: Any, lo: Any, hi: Any) -> Tensor:
    return np.clip(asarray(x), lo, hi)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    return np.where(asarray(cond), asarray(a), asarray(b))


def softmax(x: Any, axis: int = -1) -> Tensor:
    x = _floating(x)
    e = np.exp(x - _finite_max(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    # Max-shift first so that logits like 1e4 neither overflow nor lose the small ones.
    x = _floating(x)
    shifted = x - _finite_max(x, axis)
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


# ----------------------------------------------------------------------------------------
# indexing


def take_along_axis(x: Any, idx: Any, axis: int) -> Tensor:
    return np.take_along_axis(asarray(x), np.asarray(idx).astype(np.intp, copy=False), axis)


def one_hot(idx: Any, depth: int, dtype: Any = "float32") -> Tensor:
    """One-hot rows along a new last axis; an index outside ``[0, depth)`` gives zeros."""
    idx = np.asarray(idx)
    return (idx[..., None] == np.arange(int(depth))).astype(_dtype(dtype))


def stop_gradient(x: Any) -> Tensor:
    return asarray(x)


# ----------------------------------------------------------------------------------------
# creation


def zeros(shape: Shape, dtype: Any = "float32") -> Tensor:
    return np.zeros(_shape(shape), dtype=_dtype(dtype))


def ones(shape: Shape, dtype: Any = "float32") -> Tensor:
    return np.ones(_shape(shape), dtype=_dtype(dtype))


def full(shape: Shape, value: Any, dtype: Any = "float32") -> Tensor:
    return np.full(_shape(shape), value, dtype=_dtype(dtype))


def zeros_like(x: Any) -> Tensor:
    return np.zeros_like(asarray(x))


def ones_like(x: Any) -> Tensor:
    return np.ones_like(asarray(x))


def arange(n: int, dtype: Any = "int64") -> Tensor:
    return np.arange(int(n), dtype=_dtype(dtype))


def linspace(start: float, stop: float, num: int) -> Tensor:
    return np.linspace(start, stop, int(num), dtype=np.float32)


# ----------------------------------------------------------------------------------------
# random

_default_rng: np.random.Generator | None = None


def rng(seed: int | None = None) -> np.random.Generator:
    """A new generator; ``seed=None`` seeds it from fresh OS entropy."""
    return np.random.default_rng(seed)


def _seed_default(seed: int) -> None:
    """Reseeds the default generator of ``as_rng(None)`` (``NumpyBackend.seed``)."""
    global _default_rng
    _default_rng = np.random.default_rng(seed)


def as_rng(r: None | int | np.random.Generator) -> np.random.Generator:
    """The generator to draw from.

    ``None`` gives one process-wide default generator (so successive calls continue
    one stream), an int seeds a new generator (the same seed gives the same draws),
    and a ``np.random.Generator`` is returned as is.
    """
    global _default_rng
    if r is None:
        if _default_rng is None:
            _default_rng = np.random.default_rng()
        return _default_rng
    if isinstance(r, np.random.Generator):
        return r
    # bool is an int subclass, but rng=True is a mistake, not seed 1.
    if isinstance(r, int | np.integer) and not isinstance(r, bool | np.bool_):
        return np.random.default_rng(int(r))
    raise ValueError(
        "Expected None, an int seed or a numpy.random.Generator; received "
        f"{r!r} of type {type(r).__name__}. Pass rng=None for the default generator, "
        "an int to seed a new one, or a generator made by ops.rng(seed)."
    )


def _draw_dtype(dtype: Any) -> np.dtype:
    # Generator.random/standard_normal support only float32 and float64 directly.
    dt = _dtype(dtype)
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float32)


def uniform(
    rng: None | int | np.random.Generator,
    shape: Shape,
    low: float = 0.0,
    high: float = 1.0,
    dtype: Any = "float32",
) -> Tensor:
    """Draws from ``[low, high)``."""
    g = as_rng(rng)
    u = g.random(_shape(shape), dtype=_draw_dtype(dtype))
    if low != 0.0 or high != 1.0:
        u = u * (high - low) + low
    return u.astype(_dtype(dtype), copy=False)


def normal(rng: None | int | np.random.Generator, shape: Shape, dtype: Any = "float32") -> Tensor:
    """Standard normal draws."""
    g = as_rng(rng)
    return g.standard_normal(_shape(shape), dtype=_draw_dtype(dtype)).astype(
        _dtype(dtype), copy=False
    )
