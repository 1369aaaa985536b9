"""The TensorFlow ``ops`` namespace: NumPy names and semantics on ``tf.Tensor``.

Mirrors ``rlmodule_numpy.ops`` function by function (see ``docs/backend-contract.md``),
so neutral code (distributions, default modules, losses) runs unchanged on TF, eagerly
and inside ``tf.function``. Differences from raw TF that keep NumPy semantics: Python
floats become float32 and Python ints int64; integer inputs to float functions are
cast to float32; ``argmax`` returns int64; ``shape`` returns ints, with a scalar tensor
for a dimension that is only known when the graph runs (the batch axis of a
``tf.function`` traced with ``reduce_retracing``).

Random draws take an explicit generator: ``rng(seed)`` makes a ``tf.random.Generator``;
an int seed given to ``uniform``/``normal``/``as_rng`` draws from stateless ops keyed by
that seed, so the same seed gives the same draws eagerly and inside ``tf.function``
(where no new ``tf.random.Generator`` may be created after the first trace).

Example:
    >>> from rlmodule_tf import ops
    >>> x = ops.asarray([[1.0, 2.0, 3.0]])
    >>> ops.log_softmax(x).dtype
    tf.float32
    >>> ops.shape(ops.normal(ops.rng(0), (2, 3)))
    (2, 3)
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from rlmodule_core.backend.contract import OPS_NAMES

from ._keras import keras, tf

# The contract's ops (rlmodule_core.backend.contract) and this backend's own helpers.
__all__ = [*OPS_NAMES, "SeededStream", "is_tensor"]

Tensor = tf.Tensor
Shape = int | Sequence[Any]
_TENSOR_TYPES = (tf.Tensor, tf.Variable, keras.Variable)


def _dtype(dtype: Any) -> tf.DType:
    return tf.as_dtype(np.dtype(dtype) if isinstance(dtype, str | type | np.dtype) else dtype)


def _shape(shape: Shape) -> Any:
    if isinstance(shape, int | np.integer):
        return (int(shape),)
    if isinstance(shape, tf.Tensor):
        return shape
    return tuple(int(s) if isinstance(s, int | np.integer) else s for s in shape)


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a TF tensor or variable (Keras variables included)."""
    return isinstance(x, _TENSOR_TYPES)


def _floating(x: Any) -> tf.Tensor:
    """``x`` as a floating tensor; integer and bool inputs become float32 (as in torch)."""
    x = asarray(x)
    if not x.dtype.is_floating:
        return tf.cast(x, tf.float32)
    return x


def _like(value: Any, other: tf.Tensor) -> tf.Tensor:
    """A Python scalar as a tensor of ``other``'s dtype (NumPy keeps the array's dtype)."""
    if is_tensor(value) or isinstance(value, np.ndarray):
        return asarray(value)
    return tf.constant(value, dtype=other.dtype)


def _pair(a: Any, b: Any) -> tuple[tf.Tensor, tf.Tensor]:
    if is_tensor(a) or isinstance(a, np.ndarray):
        a = asarray(a)
        return a, _like(b, a)
    if is_tensor(b) or isinstance(b, np.ndarray):
        b = asarray(b)
        return _like(a, b), b
    return asarray(a), asarray(b)


# ----------------------------------------------------------------------------------------
# conversion


def asarray(x: Any, dtype: Any = None) -> tf.Tensor:
    """``x`` as a tensor; no copy when it already is a tensor of that dtype.

    NumPy arrays keep their dtype; Python floats (and lists of them) become float32 and
    Python ints int64, as in ``rlmodule_numpy.ops.asarray``.
    """
    if isinstance(x, tf.Tensor):
        return x if dtype is None or x.dtype == _dtype(dtype) else tf.cast(x, _dtype(dtype))
    if isinstance(x, tf.Variable | keras.Variable):
        value = tf.convert_to_tensor(x)
        return value if dtype is None else tf.cast(value, _dtype(dtype))
    if dtype is not None:
        return tf.convert_to_tensor(np.asarray(x, dtype=np.dtype(dtype)))
    if isinstance(x, np.ndarray | np.generic):
        return tf.convert_to_tensor(x)
    if isinstance(x, list | tuple) and any(is_tensor(v) for v in x):
        return tf.stack([asarray(v) for v in x])
    arr = np.asarray(x)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return tf.convert_to_tensor(arr)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy array with the value of ``x`` (a copy for tensors)."""
    if isinstance(x, tf.Tensor | tf.Variable | keras.Variable):
        return np.asarray(x.numpy())
    return np.asarray(x)


def cast(x: Any, dtype: Any) -> tf.Tensor:
    x = asarray(x)
    target = _dtype(dtype)
    return x if x.dtype == target else tf.cast(x, target)


def shape(x: Any) -> tuple[Any, ...]:
    """The shape as ints; a dimension unknown until the graph runs is a scalar tensor."""
    if not is_tensor(x):
        return tuple(int(s) for s in np.shape(x))
    static = tf.TensorShape(x.shape)  # Keras variables give tuples
    if static.rank is not None and static.is_fully_defined():
        return tuple(int(s) for s in static)
    dynamic = tf.shape(x, out_type=tf.int64)
    return tuple(int(s) if s is not None else dynamic[i] for i, s in enumerate(static.as_list()))


# ----------------------------------------------------------------------------------------
# shaping


def reshape(x: Any, shape: Shape) -> tf.Tensor:
    return tf.reshape(asarray(x), _shape(shape))


def concatenate(xs: Sequence[Any], axis: int = -1) -> tf.Tensor:
    return tf.concat([asarray(x) for x in xs], axis=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> tf.Tensor:
    return tf.stack([asarray(x) for x in xs], axis=axis)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = -1) -> list[tf.Tensor]:
    """NumPy semantics: an int is a number of equal sections, a list gives split indices."""
    x = asarray(x)
    if isinstance(indices_or_sections, int | np.integer):
        return list(tf.split(x, int(indices_or_sections), axis=axis))
    indices = [int(i) for i in indices_or_sections]
    size = x.shape[axis]
    if size is None:
        size = tf.shape(x)[axis]
    bounds = [0, *indices, size]
    sizes = [
        builtins.max(builtins.min(stop, size) - builtins.min(start, size), 0)
        if isinstance(size, int)
        else stop - start
        for start, stop in zip(bounds[:-1], bounds[1:])
    ]
    if not isinstance(size, int):
        sizes[-1] = -1
    return list(tf.split(x, sizes, axis=axis))


def _axes(axis: Any) -> Any:
    if axis is None or isinstance(axis, int | np.integer):
        return axis
    return [int(a) for a in axis]


def squeeze(x: Any, axis: int | Sequence[int]) -> tf.Tensor:
    axes = _axes(axis)
    return tf.squeeze(asarray(x), axis=axes if isinstance(axes, list) else [axes])


def expand_dims(x: Any, axis: int | Sequence[int]) -> tf.Tensor:
    x = asarray(x)
    axes = _axes(axis)
    if not isinstance(axes, list):
        return tf.expand_dims(x, axes)
    # NumPy resolves negative axes against the output rank, then inserts in order.
    rank = x.shape.rank + len(axes)
    for a in sorted(a % rank for a in axes):
        x = tf.expand_dims(x, a)
    return x


def broadcast_to(x: Any, shape: Shape) -> tf.Tensor:
    return tf.broadcast_to(asarray(x), _shape(shape))


# ----------------------------------------------------------------------------------------
# reductions


def _summable(x: Any) -> tf.Tensor:
    x = asarray(x)
    return tf.cast(x, tf.int64) if x.dtype == tf.bool else x


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
    return tf.reduce_sum(_summable(x), axis=_axes(axis), keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
    return tf.reduce_mean(_floating(x), axis=_axes(axis), keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
    return tf.reduce_max(asarray(x), axis=_axes(axis), keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
    return tf.reduce_min(asarray(x), axis=_axes(axis), keepdims=keepdims)


def argmax(x: Any, axis: int = -1) -> tf.Tensor:
    return tf.argmax(asarray(x), axis=axis, output_type=tf.int64)


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> tf.Tensor:
    # tf.reduce_logsumexp shifts by the max and uses 0 for non-finite maxima, as NumPy ops do.
    return tf.reduce_logsumexp(_floating(x), axis=_axes(axis), keepdims=keepdims)


# ----------------------------------------------------------------------------------------
# elementwise


def exp(x: Any) -> tf.Tensor:
    return tf.exp(_floating(x))


def log(x: Any) -> tf.Tensor:
    return tf.math.log(_floating(x))


def log1p(x: Any) -> tf.Tensor:
    return tf.math.log1p(_floating(x))


def tanh(x: Any) -> tf.Tensor:
    return tf.tanh(_floating(x))


def sqrt(x: Any) -> tf.Tensor:
    return tf.sqrt(_floating(x))


def square(x: Any) -> tf.Tensor:
    return tf.square(asarray(x))


def abs(x: Any) -> tf.Tensor:
    return tf.abs(asarray(x))


def sigmoid(x: Any) -> tf.Tensor:
    return tf.sigmoid(_floating(x))


def softplus(x: Any) -> tf.Tensor:
    return tf.nn.softplus(_floating(x))


def relu(x: Any) -> tf.Tensor:
    return tf.nn.relu(asarray(x))


def maximum(a: Any, b: Any) -> tf.Tensor:
    return tf.maximum(*_pair(a, b))


def minimum(a: Any, b: Any) -> tf.Tensor:
    return tf.minimum(*_pair(a, b))


def clip(x: Any, lo: Any, hi: Any) -> tf.Tensor:
    x = asarray(x)
    return tf.minimum(tf.maximum(x, _like(lo, x)), _like(hi, x))


def where(cond: Any, a: Any, b: Any) -> tf.Tensor:
    a, b = _pair(a, b)
    return tf.where(cast(cond, "bool"), a, b)


def softmax(x: Any, axis: int = -1) -> tf.Tensor:
    return tf.nn.softmax(_floating(x), axis=axis)


def log_softmax(x: Any, axis: int = -1) -> tf.Tensor:
    return tf.nn.log_softmax(_floating(x), axis=axis)


# ----------------------------------------------------------------------------------------
# indexing


def take_along_axis(x: Any, idx: Any, axis: int) -> tf.Tensor:
    """NumPy's ``take_along_axis`` (leading axes of ``x`` and ``idx`` broadcast)."""
    x = asarray(x)
    idx = cast(idx, "int64")
    rank = x.shape.rank
    axis = axis % rank
    if idx.shape.rank != rank:
        raise ValueError(
            f"take_along_axis expects idx with the rank of x ({rank}); received rank "
            f"{idx.shape.rank}. Add axes with ops.expand_dims."
        )
    # Move the axis last, broadcast the other axes, then gather along the last axis.
    perm = [a for a in range(rank) if a != axis] + [axis]
    xt, it = tf.transpose(x, perm), tf.transpose(idx, perm)
    lead = tf.broadcast_dynamic_shape(tf.shape(xt)[:-1], tf.shape(it)[:-1])
    xt = tf.broadcast_to(xt, tf.concat([lead, tf.shape(xt)[-1:]], 0))
    it = tf.broadcast_to(it, tf.concat([lead, tf.shape(it)[-1:]], 0))
    out = tf.gather(xt, it, axis=rank - 1, batch_dims=rank - 1)
    inverse = [perm.index(a) for a in range(rank)]
    return tf.transpose(out, inverse)


def one_hot(idx: Any, depth: int, dtype: Any = "float32") -> tf.Tensor:
    """One-hot rows along a new last axis; an index outside ``[0, depth)`` gives zeros."""
    return tf.one_hot(cast(idx, "int64"), int(depth), dtype=_dtype(dtype))


def stop_gradient(x: Any) -> tf.Tensor:
    return tf.stop_gradient(asarray(x))


# ----------------------------------------------------------------------------------------
# creation


def zeros(shape: Shape, dtype: Any = "float32") -> tf.Tensor:
    return tf.zeros(_shape(shape), dtype=_dtype(dtype))


def ones(shape: Shape, dtype: Any = "float32") -> tf.Tensor:
    return tf.ones(_shape(shape), dtype=_dtype(dtype))


def full(shape: Shape, value: Any, dtype: Any = "float32") -> tf.Tensor:
    return tf.fill(_shape(shape), tf.cast(value, _dtype(dtype)))


def zeros_like(x: Any) -> tf.Tensor:
    return tf.zeros_like(asarray(x))


def ones_like(x: Any) -> tf.Tensor:
    return tf.ones_like(asarray(x))


def arange(n: int, dtype: Any = "int64") -> tf.Tensor:
    return tf.range(n, dtype=_dtype(dtype))


def linspace(start: float, stop: float, num: int) -> tf.Tensor:
    return tf.linspace(tf.constant(start, tf.float32), tf.constant(stop, tf.float32), int(num))


# ----------------------------------------------------------------------------------------
# random


class SeededStream:
    """Draws from stateless random ops keyed by ``(seed, draw number)``.

    What an int seed becomes: the same seed gives the same sequence of draws, eagerly
    and inside ``tf.function`` (where a ``tf.random.Generator`` cannot be created after
    the first trace). The seed may be an integer scalar tensor (a compiled forward gets
    ``rng=7`` as one, so a new seed does not retrace). It has the draw methods of
    ``tf.random.Generator`` that ``ops`` uses.
    """

    def __init__(self, seed: int | tf.Tensor) -> None:
        self.seed = seed if isinstance(seed, tf.Tensor) else int(seed)
        self._draws = 0

    def _next(self) -> tf.Tensor:
        key = tf.stack([tf.cast(self.seed, tf.int64), tf.constant(self._draws, tf.int64)])
        self._draws += 1
        return key

    def uniform(self, shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: Any = tf.float32):
        return tf.random.stateless_uniform(shape, self._next(), minval, maxval, dtype=dtype)

    def normal(self, shape: Any, dtype: Any = tf.float32):
        return tf.random.stateless_normal(shape, self._next(), dtype=dtype)


Generator = tf.random.Generator | SeededStream
# Made on first use, not at import: making it starts TF's runtime, after which its
# thread pools can no longer be set (Backend.set_threads). ``tf.init_scope`` makes it
# eagerly even when as_rng(None) is first called inside a tf.function.
_default_rng: tf.random.Generator | None = None


def _seed_default(seed: int) -> None:
    """Reseeds the default generator of ``as_rng(None)`` (``TfBackend.seed``)."""
    global _default_rng
    with tf.init_scope():
        _default_rng = tf.random.Generator.from_seed(seed)


def _default_generator() -> tf.random.Generator:
    global _default_rng
    if _default_rng is None:
        with tf.init_scope():
            _default_rng = tf.random.Generator.from_non_deterministic_state()
    return _default_rng


def rng(seed: int | None = None) -> tf.random.Generator:
    """A new ``tf.random.Generator``; ``seed=None`` seeds it from fresh OS entropy.

    Make it outside ``tf.function`` (it holds a variable); it can be used inside.
    """
    if seed is None:
        return tf.random.Generator.from_non_deterministic_state()
    return tf.random.Generator.from_seed(int(seed))


def as_rng(r: None | int | Generator) -> Generator:
    """The generator to draw from.

    ``None`` gives one process-wide default generator (successive calls continue one
    stream), an int (or an integer scalar tensor) gives a ``SeededStream`` (the same seed
    gives the same draws, also inside ``tf.function``), and a generator is returned as is.
    """
    if r is None:
        return _default_generator()
    if isinstance(r, tf.random.Generator | SeededStream):
        return r
    if isinstance(r, int | np.integer) and not isinstance(r, bool | np.bool_):
        return SeededStream(int(r))
    if isinstance(r, tf.Tensor) and r.dtype.is_integer and r.shape.rank == 0:
        return SeededStream(r)
    raise ValueError(
        "Expected None, an int seed or a tf.random.Generator; received "
        f"{r!r} of type {type(r).__name__}. Pass rng=None for the default generator, "
        "an int to seed a new one, or a generator made by ops.rng(seed)."
    )


def _draw_dtype(dtype: Any) -> tf.DType:
    dt = _dtype(dtype)
    return dt if dt in (tf.float16, tf.bfloat16, tf.float32, tf.float64) else tf.float32


def uniform(
    rng: None | int | Generator,
    shape: Shape,
    low: float = 0.0,
    high: float = 1.0,
    dtype: Any = "float32",
) -> tf.Tensor:
    """Draws from ``[low, high)``."""
    g = as_rng(rng)
    u = g.uniform(_shape(shape), minval=low, maxval=high, dtype=_draw_dtype(dtype))
    return cast(u, dtype)


def normal(rng: None | int | Generator, shape: Shape, dtype: Any = "float32") -> tf.Tensor:
    """Standard normal draws."""
    g = as_rng(rng)
    return cast(g.normal(_shape(shape), dtype=_draw_dtype(dtype)), dtype)
