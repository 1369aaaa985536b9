"""The JAX ``ops`` namespace: NumPy names and semantics on ``jax.Array``.

Every function mirrors ``rlmodule_numpy.ops`` (see ``docs/backend-contract.md``) and
works inside ``jax.jit`` and under ``nnx.grad``. Two differences follow from JAX itself:

- 64-bit types need ``jax_enable_x64``. Without it (the JAX default) a requested
  ``"int64"``/``"float64"`` becomes ``int32``/``float32``, silently (``argmax`` returns
  int32, for instance).
- Random draws take a PRNG key or a ``KeyStream`` (see ``prng.py``): ``rng(seed)`` makes a
  stateful stream for eager code; inside traced code pass a key (``jax.random.key(0)``),
  which ``as_rng`` wraps functionally.

Example:
    >>> from rlmodule_jax import ops
    >>> x = ops.asarray([[1.0, 2.0, 3.0]])
    >>> ops.log_softmax(x).dtype
    dtype('float32')
    >>> ops.shape(ops.normal(jax.random.key(0), (2, 3)))
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlmodule_core.backend.contract import OPS_NAMES

from . import prng
from .prng import KeyStream

# The contract's ops (rlmodule_core.backend.contract).
__all__ = [*OPS_NAMES]

Tensor = jax.Array
Shape = int | Sequence[int]


def _dtype(dtype: Any) -> np.dtype:
    # canonicalize_dtype maps 64-bit types to 32-bit ones when x64 is off, without the
    # warning jnp.asarray(..., dtype="int64") would print on every call.
    return jax.dtypes.canonicalize_dtype(np.dtype(dtype))


def _shape(shape: Shape) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _axis(axis: Any) -> Any:
    if axis is None or isinstance(axis, int | np.integer):
        return axis
    return tuple(axis)


def _floating(x: Any) -> jax.Array:
    """``x`` as a floating array; integer and bool inputs become float32 (as in torch)."""
    x = asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return x.astype(jnp.float32)
    return x


# ----------------------------------------------------------------------------------------
# conversion


def asarray(x: Any, dtype: Any = None) -> Tensor:
    """``x`` as a ``jax.Array``; no copy when it already is one of that dtype.

    Python floats, lists of floats and float64 NumPy arrays become float32, so constants
    written in neutral code have the same dtype on every backend.
    """
    if dtype is not None:
        dt = _dtype(dtype)
        if isinstance(x, jax.Array) and x.dtype == dt:
            return x
        return jnp.asarray(x, dtype=dt)
    if isinstance(x, jax.Array):
        return x
    arr = np.asarray(x)
    if arr.dtype == np.float64:
        return jnp.asarray(arr, dtype=jnp.float32)
    # JAX refuses non-native byte orders (e.g. ">f4" read from a file); ask for native.
    return jnp.asarray(arr, dtype=_dtype(arr.dtype.newbyteorder("=")))


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy array of ``x`` (a read-only view of a CPU array's buffer; copy to write)."""
    return np.asarray(x)


def cast(x: Any, dtype: Any) -> Tensor:
    return asarray(x).astype(_dtype(dtype))


def shape(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in jnp.shape(x))


# ----------------------------------------------------------------------------------------
# shaping


def reshape(x: Any, shape: Shape) -> Tensor:
    return jnp.reshape(asarray(x), _shape(shape))


def concatenate(xs: Sequence[Any], axis: int = -1) -> Tensor:
    return jnp.concatenate([asarray(x) for x in xs], axis=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    return jnp.stack([asarray(x) for x in xs], axis=axis)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = -1) -> list[Tensor]:
    """NumPy semantics: an int is a number of equal sections, a list gives split indices."""
    if not isinstance(indices_or_sections, int | np.integer):
        indices_or_sections = [int(i) for i in indices_or_sections]
    else:
        indices_or_sections = int(indices_or_sections)
    return list(jnp.split(asarray(x), indices_or_sections, axis=axis))


def squeeze(x: Any, axis: int | Sequence[int]) -> Tensor:
    return jnp.squeeze(asarray(x), axis=_axis(axis))


def expand_dims(x: Any, axis: int | Sequence[int]) -> Tensor:
    return jnp.expand_dims(asarray(x), _axis(axis))


def broadcast_to(x: Any, shape: Shape) -> Tensor:
    return jnp.broadcast_to(asarray(x), _shape(shape))


# ----------------------------------------------------------------------------------------
# reductions


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return jnp.sum(asarray(x), axis=_axis(axis), keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return jnp.mean(_floating(x), axis=_axis(axis), keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return jnp.max(asarray(x), axis=_axis(axis), keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return jnp.min(asarray(x), axis=_axis(axis), keepdims=keepdims)


def argmax(x: Any, axis: int = -1) -> Tensor:
    return jnp.argmax(asarray(x), axis=axis).astype(_dtype("int64"))


def _finite_max(x: jax.Array, axis: Any) -> jax.Array:
    # Shifting by the max keeps exp() from overflowing; a slice that is all -inf (or has
    # a +inf) would give inf - inf = nan, so such slices are shifted by 0 instead. The
    # shift cancels mathematically, so no gradient needs to flow through it.
    m = jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    return jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m))


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Tensor:
    x = _floating(x)
    axis = _axis(axis)
    m = _finite_max(x, axis)
    out = jnp.log(jnp.sum(jnp.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = jnp.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


# ----------------------------------------------------------------------------------------
# elementwise


def exp(x: Any) -> Tensor:
    return jnp.exp(_floating(x))


def log(x: Any) -> Tensor:
    return jnp.log(_floating(x))


def log1p(x: Any) -> Tensor:
    return jnp.log1p(_floating(x))


def tanh(x: Any) -> Tensor:
    return jnp.tanh(_floating(x))


def sqrt(x: Any) -> Tensor:
    return jnp.sqrt(_floating(x))


def square(x: Any) -> Tensor:
    return jnp.square(asarray(x))


def abs(x: Any) -> Tensor:
    return jnp.abs(asarray(x))


def sigmoid(x: Any) -> Tensor:
    return jax.nn.sigmoid(_floating(x))


def softplus(x: Any) -> Tensor:
    # logaddexp(x, 0) neither overflows for large x nor loses small ones.
    return jnp.logaddexp(_floating(x), 0.0)


def relu(x: Any) -> Tensor:
    x = asarray(x)
    return jnp.maximum(x, jnp.zeros((), x.dtype))


def maximum(a: Any, b: Any) -> Tensor:
    return jnp.maximum(asarray(a), asarray(b))


def minimum(a: Any, b: Any) -> Tensor:
    return jnp.minimum(asarray(a), asarray(b))


def clip(x: Any, lo: Any, hi: Any) -> Tensor:
    return jnp.clip(asarray(x), lo, hi)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    return jnp.where(asarray(cond), asarray(a), asarray(b))


def softmax(x: Any, axis: int = -1) -> Tensor:
    x = _floating(x)
    e = jnp.exp(x - _finite_max(x, axis))
    return e / jnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    x = _floating(x)
    shifted = x - _finite_max(x, axis)
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))


# ----------------------------------------------------------------------------------------
# indexing


def take_along_axis(x: Any, idx: Any, axis: int) -> Tensor:
    return jnp.take_along_axis(asarray(x), asarray(idx).astype(jnp.int32), axis=axis)


def one_hot(idx: Any, depth: int, dtype: Any = "float32") -> Tensor:
    """One-hot rows along a new last axis; an index outside ``[0, depth)`` gives zeros."""
    idx = asarray(idx)
    return (idx[..., None] == jnp.arange(int(depth), dtype=idx.dtype)).astype(_dtype(dtype))


def stop_gradient(x: Any) -> Tensor:
    return jax.lax.stop_gradient(asarray(x))


# ----------------------------------------------------------------------------------------
# creation


def zeros(shape: Shape, dtype: Any = "float32") -> Tensor:
    return jnp.zeros(_shape(shape), dtype=_dtype(dtype))


def ones(shape: Shape, dtype: Any = "float32") -> Tensor:
    return jnp.ones(_shape(shape), dtype=_dtype(dtype))


def full(shape: Shape, value: Any, dtype: Any = "float32") -> Tensor:
    return jnp.full(_shape(shape), value, dtype=_dtype(dtype))


def zeros_like(x: Any) -> Tensor:
    return jnp.zeros_like(asarray(x))


def ones_like(x: Any) -> Tensor:
    return jnp.ones_like(asarray(x))


def arange(n: int, dtype: Any = "int64") -> Tensor:
    return jnp.arange(int(n), dtype=_dtype(dtype))


def linspace(start: float, stop: float, num: int) -> Tensor:
    return jnp.linspace(start, stop, int(num), dtype=jnp.float32)


# ----------------------------------------------------------------------------------------
# random


def rng(seed: int | None = None) -> KeyStream:
    """A new stateful generator (a ``KeyStream``); ``seed=None`` seeds it from OS entropy.

    For eager code only: inside ``jax.jit`` pass a key (``jax.random.key(seed)``).
    """
    return prng.new_stream(seed)


def as_rng(r: None | int | KeyStream | jax.Array) -> KeyStream:
    """The stream to draw from.

    ``None`` gives the process-wide default stream (successive calls continue it; inside a
    compiled forward pass a fresh per-call key instead), an int seeds a new stream (the
    same seed gives the same draws), a JAX PRNG key is wrapped functionally (the same key
    gives the same draws, usable inside ``jax.jit``), and a ``KeyStream`` is returned as is.
    """
    return prng.as_stream(r)


def _draw_dtype(dtype: Any) -> np.dtype:
    dt = _dtype(dtype)
    return dt if jnp.issubdtype(dt, jnp.floating) else np.dtype(np.float32)


def uniform(
    rng: None | int | KeyStream | jax.Array,
    shape: Shape,
    low: float = 0.0,
    high: float = 1.0,
    dtype: Any = "float32",
) -> Tensor:
    """Draws from ``[low, high)``."""
    key = as_rng(rng).next_key()
    u = jax.random.uniform(key, _shape(shape), dtype=_draw_dtype(dtype))
    # Python bounds are checked here; traced bounds always take the affine map.
    if not (isinstance(low, int | float) and isinstance(high, int | float) and (low, high) == (0.0, 1.0)):
        u = u * (high - low) + low
    return u.astype(_dtype(dtype))


def normal(rng: None | int | KeyStream | jax.Array, shape: Shape, dtype: Any = "float32") -> Tensor:
    """Standard normal draws."""
    key = as_rng(rng).next_key()
    return jax.random.normal(key, _shape(shape), dtype=_draw_dtype(dtype)).astype(_dtype(dtype))

