"""The ONNX ``ops`` namespace: each function appends the ONNX nodes of the NumPy op.

Same names and semantics as the NumPy backend's ``ops`` (the reference; see
``docs/backend-contract.md``), on ``Sym`` tensors of the graph
being traced. NumPy arrays and Python numbers become constants. Random draws, and
anything that needs a tensor's value in Python, raise
``OnnxExportError`` naming the op and the layer.

Example:
    >>> # inside rlmodule_core.export_onnx, while a module's forward is traced:
    >>> y = ops.softmax(ops.concatenate([x, z], axis=-1))   # Concat, then Softmax
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from rlmodule_core.backend.contract import OPS_NAMES

from .graph import Dim, Sym, current_graph, result_dtype, same_dim, static_size
from .graph import onnx_dtype as _onnx_dtype

# The contract's ops (rlmodule_core.backend.contract) and this backend's own helpers.
__all__ = [*OPS_NAMES, "binary", "getitem", "unary"]

Tensor = Sym
Shape = int | Sequence[Any]


# ----------------------------------------------------------------------------------------
# helpers


def _const_for(x: Any, like: Sym | None) -> Sym:
    """``x`` (an array or number) as a constant; a Python number takes ``like``'s dtype
    when NumPy's promotion would (weak scalars), else float32 / int64 / bool."""
    graph = like.graph if like is not None else current_graph()
    if isinstance(x, bool | np.bool_):
        return graph.const(np.asarray(x, dtype=bool))
    if isinstance(x, int | float) and like is not None:
        return graph.const(np.asarray(x, dtype=result_dtype(like.dtype, x)))
    return graph.const(_asarray_np(x))


def _asarray_np(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return arr


def _sym(x: Any, like: Sym | None = None) -> Sym:
    return x if isinstance(x, Sym) else _const_for(x, like)


def _axis(axis: int, ndim: int) -> int:
    return axis + ndim if axis < 0 else axis


def _broadcast(*shapes: Sequence[Any]) -> tuple[Any, ...]:
    ndim = builtins.max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        dims = [s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0]
        chosen: Any = 1
        for d in dims:
            if isinstance(d, Dim):
                if not isinstance(chosen, Dim) and chosen == 1:
                    chosen = d
            elif d != 1:
                chosen = d
        out.append(chosen)
    return tuple(out)


def _cast_to(x: Sym, dtype: np.dtype) -> Sym:
    return x if x.dtype == dtype else cast(x, dtype)


_COMPARISONS = {"Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Equal", "And", "Or"}


def binary(op: str, a: Any, b: Any) -> Sym:
    """A broadcasting binary node (the Python operators of Sym come here)."""
    like = a if isinstance(a, Sym) else b
    a, b = _sym(a, like), _sym(b, like)
    graph = like.graph
    if op == "MatMul":
        shape = _broadcast(a.shape[:-2], b.shape[:-2]) + a.shape[-2:-1] + b.shape[-1:]
        dtype = result_dtype(a.dtype, b.dtype)
        return graph.emit(op, [_cast_to(a, dtype), _cast_to(b, dtype)], dtype, shape)
    if op in ("And", "Or"):
        a, b = _cast_to(a, np.dtype(bool)), _cast_to(b, np.dtype(bool))
        return graph.emit(op, [a, b], bool, _broadcast(a.shape, b.shape))
    dtype = result_dtype(a.dtype, b.dtype)
    if op == "Div" and not np.issubdtype(dtype, np.floating):
        dtype = np.dtype(np.float32)  # true division, as NumPy's `/`
    a, b = _cast_to(a, dtype), _cast_to(b, dtype)
    out_dtype = np.dtype(bool) if op in _COMPARISONS else dtype
    return graph.emit(op, [a, b], out_dtype, _broadcast(a.shape, b.shape))


def unary(op: str, x: Any, floating: bool = False, **attrs: Any) -> Sym:
    x = _sym(x)
    if floating and not np.issubdtype(x.dtype, np.floating):
        x = cast(x, "float32")
    return x.graph.emit(op, [x], x.dtype, x.shape, **attrs)


def getitem(x: Sym, index: Any) -> Sym:
    """Basic indexing: ints, slices and one Ellipsis (``x[:, i]``, ``x[..., :k]``)."""
    index = index if isinstance(index, tuple) else (index,)
    if builtins.sum(i is Ellipsis for i in index) > 1 or any(
        not isinstance(i, int | np.integer | slice) and i is not Ellipsis for i in index
    ):
        raise x.graph.error(
            f"indexing with {index!r}",
            "only ints, slices and one Ellipsis are supported (no arrays, None or bools)",
        )
    if Ellipsis in index:
        at = index.index(Ellipsis)
        fill = (slice(None),) * (x.ndim - len(index) + 1)
        index = index[:at] + fill + index[at + 1 :]
    index = index + (slice(None),) * (x.ndim - len(index))
    graph, out = x.graph, x
    starts, ends, axes, steps, shape = [], [], [], [], list(x.shape)
    for axis, item in enumerate(index):
        if isinstance(item, slice) and item != slice(None):
            size = x.shape[axis]
            step = item.step or 1
            if isinstance(size, Dim) and builtins.min(item.start or 0, item.stop or 0) < 0:
                raise graph.error("slicing a run-time axis from its end", "use a non-negative start and stop")
            big = np.iinfo(np.int64).max
            starts.append(item.start if item.start is not None else (0 if step > 0 else -1))
            ends.append(item.stop if item.stop is not None else (big if step > 0 else -big - 1))
            axes.append(axis)
            steps.append(step)
            # A sliced run-time axis gets its size read from the result (None until then).
            shape[axis] = None if isinstance(size, Dim) else len(range(*item.indices(int(size))))
    if axes:
        names = [graph.ints(v, h) for v, h in ((starts, "starts"), (ends, "ends"), (axes, "axes"), (steps, "steps"))]
        out = graph.emit("Slice", [out, *names], x.dtype, shape)
        out.shape = tuple(graph.fresh_dim(out.name, a) if d is None else d for a, d in enumerate(shape))
    for axis in reversed([a for a, item in enumerate(index) if isinstance(item, int | np.integer)]):
        size = out.shape[axis]
        i = int(index[axis])
        if not isinstance(size, Dim) and not -size <= i < size:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
        shape = out.shape[:axis] + out.shape[axis + 1 :]
        out = graph.emit("Gather", [out, graph.const(np.int64(i), hint="index")], x.dtype, shape, axis=axis)
    return out


# ----------------------------------------------------------------------------------------
# conversion


def asarray(x: Any, dtype: Any = None) -> Tensor:
    """``x`` as a graph tensor: a Sym as is (cast if ``dtype`` differs), anything else a constant."""
    if isinstance(x, Sym):
        return x if dtype is None else cast(x, dtype)
    if dtype is not None:
        return current_graph("ops.asarray").const(np.asarray(x, dtype=np.dtype(dtype)))
    return current_graph("ops.asarray").const(_asarray_np(x))


def to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, Sym):
        raise x.graph.unsupported("to_numpy", "a traced tensor has no value until the graph runs")
    return np.asarray(x)


def cast(x: Any, dtype: Any) -> Tensor:
    x = _sym(x)
    dt = np.dtype(dtype)
    if x.dtype == dt:
        return x
    return x.graph.emit("Cast", [x], dt, x.shape, to=_onnx_dtype(dt))


def shape(x: Any) -> tuple[Any, ...]:
    """Static sizes as ints, run-time sizes (batch, time) as ``Dim``."""
    if isinstance(x, Sym):
        return x.shape
    return tuple(int(s) for s in np.shape(x))


# ----------------------------------------------------------------------------------------
# shaping


def _norm_shape(shape: Shape) -> tuple[Any, ...]:
    if isinstance(shape, int | np.integer | Dim):
        return (shape,)
    return tuple(d if isinstance(d, Dim) else int(d) for d in shape)


def reshape(x: Any, shape: Shape) -> Tensor:
    x = _sym(x)
    target = _norm_shape(shape)
    if len(target) == x.ndim and all(same_dim(a, b) for a, b in zip(target, x.shape)):
        return x
    graph = x.graph
    # Entries the run time must supply: a Dim that is not the input's size at the same
    # axis (those become 0, "copy"). With one such entry and no -1, it becomes -1.
    spec: list[Any] = []
    for axis, d in enumerate(target):
        if isinstance(d, Dim) and axis < x.ndim and same_dim(d, x.shape[axis]):
            spec.append(0)
        else:
            spec.append(d)
    dynamic = [i for i, d in enumerate(spec) if isinstance(d, Dim)]
    if len(dynamic) == 1 and -1 not in spec:
        spec[dynamic[0]] = -1
    shape_name = graph.shape_value(spec)
    out_shape = list(target)
    if -1 in target:
        at = target.index(-1)
        in_static, in_dims = static_size(x.shape)
        out_static, out_dims = static_size([d for i, d in enumerate(target) if i != at])
        remaining = list(in_dims)
        for d in out_dims:
            match = next((r for r in remaining if same_dim(r, d)), None)
            if match is None:
                remaining = None
                break
            remaining.remove(match)
        if remaining is not None and out_static and in_static % out_static == 0:
            ratio = in_static // out_static
            if not remaining:
                out_shape[at] = ratio
            else:
                prod = remaining[0]
                for r in remaining[1:]:
                    prod = prod * r
                out_shape[at] = prod * ratio if ratio != 1 else prod
        else:
            out_shape[at] = None  # resolved below from the result
    out = graph.emit("Reshape", [x, shape_name], x.dtype, out_shape)
    if None in out_shape:
        out.shape = tuple(graph.fresh_dim(out.name, i) if d is None else d for i, d in enumerate(out_shape))
    return out


def concatenate(xs: Sequence[Any], axis: int = -1) -> Tensor:
    first = next((x for x in xs if isinstance(x, Sym)), None)
    syms = [_sym(x, first) for x in xs]
    if len(syms) == 1:
        return syms[0]
    dtype = result_dtype(*[s.dtype for s in syms])
    syms = [_cast_to(s, dtype) for s in syms]
    ax = _axis(axis, syms[0].ndim)
    sizes = [s.shape[ax] for s in syms]
    shape = list(syms[0].shape)
    shape[ax] = None if any(isinstance(d, Dim) for d in sizes) else builtins.sum(sizes)
    graph = syms[0].graph
    out = graph.emit("Concat", syms, dtype, shape, axis=ax)
    if shape[ax] is None:
        out.shape = tuple(graph.fresh_dim(out.name, ax) if i == ax else d for i, d in enumerate(shape))
    return out


def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    first = next((x for x in xs if isinstance(x, Sym)), None)
    syms = [_sym(x, first) for x in xs]
    ax = _axis(axis, syms[0].ndim + 1)
    return concatenate([expand_dims(s, ax) for s in syms], axis=ax)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = -1) -> list[Tensor]:
    """NumPy semantics: an int is a number of equal sections, a list gives split indices."""
    x = _sym(x)
    graph = x.graph
    ax = _axis(axis, x.ndim)
    size = x.shape[ax]
    if isinstance(size, Dim):
        raise graph.unsupported("split", f"axis {axis} has a run-time size ({size.key})")
    if isinstance(indices_or_sections, int | np.integer):
        n = int(indices_or_sections)
        if size % n:
            raise ValueError(f"array split does not result in an equal division: {size} into {n}")
        sizes = [size // n] * n
    else:
        bounds = [0, *[int(i) for i in indices_or_sections], size]
        sizes = [builtins.max(0, builtins.min(b, size) - builtins.min(a, size)) for a, b in zip(bounds, bounds[1:])]
    if len(sizes) == 1:
        return [x]
    names = graph.add("Split", [x.name, graph.ints(sizes, "split")], len(sizes), axis=ax)
    return [
        graph.sym(name, x.dtype, x.shape[:ax] + (n,) + x.shape[ax + 1 :]) for name, n in zip(names, sizes)
    ]


def squeeze(x: Any, axis: int | Sequence[int]) -> Tensor:
    x = _sym(x)
    axes = sorted(_axis(a, x.ndim) for a in ((axis,) if isinstance(axis, int | np.integer) else axis))
    for a in axes:
        if not same_dim(x.shape[a], 1):
            raise ValueError(f"cannot select an axis to squeeze out which has size not equal to one (axis {a})")
    shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return x.graph.emit("Squeeze", [x, x.graph.ints(axes)], x.dtype, shape)


def expand_dims(x: Any, axis: int | Sequence[int]) -> Tensor:
    x = _sym(x)
    given = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    ndim = x.ndim + len(given)
    axes = sorted(_axis(a, ndim) for a in given)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return x.graph.emit("Unsqueeze", [x, x.graph.ints(axes)], x.dtype, shape)


def broadcast_to(x: Any, shape: Shape) -> Tensor:
    x = _sym(x)
    target = _norm_shape(shape)
    return x.graph.emit("Expand", [x, x.graph.shape_value(target)], x.dtype, target)


# ----------------------------------------------------------------------------------------
# reductions


def _reduce(op: str, x: Sym, axis: Any, keepdims: bool) -> Sym:
    graph = x.graph
    axes = list(range(x.ndim)) if axis is None else sorted(
        _axis(a, x.ndim) for a in ((axis,) if isinstance(axis, int | np.integer) else axis)
    )
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keepdims else tuple(
        d for i, d in enumerate(x.shape) if i not in axes
    )
    # ReduceSum takes its axes as an input from opset 13, the others from opset 18.
    if op == "ReduceSum" or graph.opset >= 18:
        return graph.emit(op, [x, graph.ints(axes)], x.dtype, shape, keepdims=int(keepdims))
    return graph.emit(op, [x], x.dtype, shape, axes=axes, keepdims=int(keepdims))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _reduce("ReduceSum", _sym(x), axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    x = _sym(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = cast(x, "float32")
    return _reduce("ReduceMean", x, axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _reduce("ReduceMax", _sym(x), axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _reduce("ReduceMin", _sym(x), axis, keepdims)


def argmax(x: Any, axis: int = -1) -> Tensor:
    """The first index of the maximum, int64 (as NumPy)."""
    x = _sym(x)
    ax = _axis(axis, x.ndim)
    shape = x.shape[:ax] + x.shape[ax + 1 :]
    return x.graph.emit("ArgMax", [x], np.int64, shape, axis=ax, keepdims=0, select_last_index=0)


def _finite_max(x: Sym, axis: Any) -> Sym:
    # As the NumPy reference: a slice whose max is +-inf is shifted by 0, not by inf.
    m = max(x, axis=axis, keepdims=True)
    finite = unary("Not", x.graph.emit("IsInf", [m], bool, m.shape))
    return where(finite, m, zeros_like(m))


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Tensor:
    x = _sym(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = cast(x, "float32")
    m = _finite_max(x, axis)
    out = log(sum(exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = squeeze(out, list(range(x.ndim)) if axis is None else axis)
    return out


# ----------------------------------------------------------------------------------------
# elementwise


def exp(x: Any) -> Tensor:
    return unary("Exp", x, floating=True)


def log(x: Any) -> Tensor:
    return unary("Log", x, floating=True)


def log1p(x: Any) -> Tensor:
    x = _sym(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = cast(x, "float32")
    return log(x + 1.0)


def tanh(x: Any) -> Tensor:
    return unary("Tanh", x, floating=True)


def sqrt(x: Any) -> Tensor:
    return unary("Sqrt", x, floating=True)


def square(x: Any) -> Tensor:
    x = _sym(x)
    return binary("Mul", x, x)


def abs(x: Any) -> Tensor:
    return unary("Abs", x)


def sigmoid(x: Any) -> Tensor:
    return unary("Sigmoid", x, floating=True)


def softplus(x: Any) -> Tensor:
    # ONNX Runtime's Softplus is the stable form (no overflow for large x).
    return unary("Softplus", x, floating=True)


def relu(x: Any) -> Tensor:
    return unary("Relu", x)


def maximum(a: Any, b: Any) -> Tensor:
    return binary("Max", a, b)


def minimum(a: Any, b: Any) -> Tensor:
    return binary("Min", a, b)


def clip(x: Any, lo: Any, hi: Any) -> Tensor:
    x = _sym(x)
    if all(isinstance(v, int | float | np.number) for v in (lo, hi)):
        graph = x.graph
        bounds = [graph.const(np.asarray(v, dtype=x.dtype), hint="clip") for v in (lo, hi)]
        return graph.emit("Clip", [x, *bounds], x.dtype, x.shape)
    return minimum(maximum(x, lo), hi)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    like = next(v for v in (a, b, cond) if isinstance(v, Sym))
    cond = _cast_to(_sym(cond, like), np.dtype(bool))
    a, b = _sym(a, like), _sym(b, like)
    dtype = result_dtype(a.dtype, b.dtype)
    a, b = _cast_to(a, dtype), _cast_to(b, dtype)
    return like.graph.emit("Where", [cond, a, b], dtype, _broadcast(cond.shape, a.shape, b.shape))


def softmax(x: Any, axis: int = -1) -> Tensor:
    return unary("Softmax", x, floating=True, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    return unary("LogSoftmax", x, floating=True, axis=axis)


# ----------------------------------------------------------------------------------------
# indexing


def take_along_axis(x: Any, idx: Any, axis: int) -> Tensor:
    x = _sym(x)
    idx = _cast_to(_sym(idx, x), np.dtype(np.int64))
    return x.graph.emit("GatherElements", [x, idx], x.dtype, idx.shape, axis=_axis(axis, x.ndim))


def one_hot(idx: Any, depth: int, dtype: Any = "float32") -> Tensor:
    """One-hot rows along a new last axis; an index outside ``[0, depth)`` gives zeros.

    Written as ``Equal(idx[..., None], arange(depth))`` rather than ONNX ``OneHot``, which
    wraps negative indices around.
    """
    idx = _cast_to(_sym(idx), np.dtype(np.int64))
    graph = idx.graph
    hits = binary("Equal", expand_dims(idx, -1), graph.const(np.arange(int(depth), dtype=np.int64), hint="arange"))
    return cast(hits, dtype)


def stop_gradient(x: Any) -> Tensor:
    return _sym(x)


# ----------------------------------------------------------------------------------------
# creation


def full(shape: Shape, value: Any, dtype: Any = "float32") -> Tensor:
    target = _norm_shape(shape)
    graph = current_graph("ops.full")
    dt = np.dtype(dtype)
    if not any(isinstance(d, Dim) for d in target):
        return graph.const(np.full(target, value, dtype=dt))
    from onnx import numpy_helper

    fill = numpy_helper.from_array(np.asarray([value], dtype=dt), "value")
    return graph.emit("ConstantOfShape", [graph.shape_value(target)], dt, target, value=fill)


def zeros(shape: Shape, dtype: Any = "float32") -> Tensor:
    return full(shape, 0, dtype)


def ones(shape: Shape, dtype: Any = "float32") -> Tensor:
    return full(shape, 1, dtype)


def zeros_like(x: Any) -> Tensor:
    x = _sym(x)
    return full(x.shape, 0, x.dtype)


def ones_like(x: Any) -> Tensor:
    x = _sym(x)
    return full(x.shape, 1, x.dtype)


def arange(n: int, dtype: Any = "int64") -> Tensor:
    return current_graph("ops.arange").const(np.arange(int(n), dtype=np.dtype(dtype)), hint="arange")


def linspace(start: float, stop: float, num: int) -> Tensor:
    return current_graph("ops.linspace").const(np.linspace(start, stop, int(num), dtype=np.float32), hint="linspace")


# ----------------------------------------------------------------------------------------
# random: not part of an exported graph

_RANDOM = (
    "random draws are not exported: an ONNX graph of forward_inference is deterministic. "
    "Export the inference phase (greedy actions) and sample in the application"
)


def rng(seed: int | None = None) -> Any:
    raise current_graph("ops.rng").unsupported("rng", _RANDOM)


def as_rng(r: Any) -> Any:
    raise current_graph("ops.as_rng").unsupported("as_rng", _RANDOM)


def uniform(rng: Any, shape: Shape, low: float = 0.0, high: float = 1.0, dtype: Any = "float32") -> Tensor:
    raise current_graph("ops.uniform").unsupported("uniform", _RANDOM)


def normal(rng: Any, shape: Shape, dtype: Any = "float32") -> Tensor:
    raise current_graph("ops.normal").unsupported("normal", _RANDOM)
