"""The PyTorch ``ops`` namespace: NumPy names and semantics on ``torch.Tensor``.

Neutral code (distributions, default modules, losses) is written once against these
names; ``rlmodule_numpy.ops`` is the reference and ``docs/backend-contract.md`` the
contract. Every function here is differentiable where the maths is, and traceable by
``torch.compile``.

Floating-point results default to ``float32``: Python scalars and lists, and NumPy
``float64`` arrays, become ``float32`` tensors unless a ``dtype`` is given (NumPy data
entering torch takes torch's default precision, as at the batch boundary of
``TorchRLModule``). Tensors keep their dtype. Random draws take a ``torch.Generator``;
``as_rng(None)`` is torch's own default generator, so ``torch.manual_seed`` makes them
reproducible.

Example:
    >>> from rlmodule_torch import ops
    >>> x = ops.asarray([[1.0, 2.0, 3.0]])
    >>> ops.log_softmax(x).dtype
    torch.float32
    >>> ops.shape(ops.normal(ops.rng(0), (2, 3)))
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rlmodule_core.backend.contract import OPS_NAMES

# The contract's ops (rlmodule_core.backend.contract) and this backend's own helpers.
__all__ = [*OPS_NAMES, "numpy_view", "to_torch_dtype"]

Tensor = torch.Tensor
Shape = int | Sequence[int]

_DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}


def to_torch_dtype(dtype: Any) -> torch.dtype:
    """``"float32"``, ``np.float32``, ``np.dtype("float32")`` or ``torch.float32`` -> ``torch.float32``.

    Raises:
        TypeError: the dtype has no torch equivalent.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    found = _DTYPES.get(dtype) if isinstance(dtype, str) else None
    if found is not None:
        return found
    try:
        name = np.dtype(dtype).name
    except TypeError as err:
        raise TypeError(
            f"Expected a dtype such as 'float32', np.float32 or torch.float32; received {dtype!r}."
        ) from err
    if name not in _DTYPES:
        raise TypeError(
            f"dtype {dtype!r} ({name}) has no torch equivalent here. Expected one of: "
            f"{', '.join(_DTYPES)}."
        )
    return _DTYPES[name]


def _shape(shape: Shape) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer):
        return (int(shape),)
    return tuple(shape)


def _axis(axis: Any) -> Any:
    if axis is None or isinstance(axis, int):
        return axis
    if isinstance(axis, np.integer):
        return int(axis)
    return tuple(int(a) for a in axis)


def _floating(x: Any) -> Tensor:
    """``x`` as a floating tensor; integer and bool inputs become float32 (as in NumPy ops)."""
    x = asarray(x)
    if not x.is_floating_point():
        return x.to(torch.float32)
    return x


# ----------------------------------------------------------------------------------------
# conversion


def asarray(x: Any, dtype: Any = None) -> Tensor:
    """``x`` as a tensor; no copy when it already is a tensor of that dtype.

    NumPy arrays are wrapped without copying where possible (``float64`` becomes
    ``float32`` unless ``dtype`` is given); Python floats and lists of floats become
    ``float32``.
    """
    if isinstance(x, torch.Tensor):
        if dtype is None:
            return x
        dt = to_torch_dtype(dtype)
        return x if x.dtype == dt else x.to(dt)
    dt = None if dtype is None else to_torch_dtype(dtype)
    if isinstance(x, np.ndarray | np.generic):
        return _from_numpy(np.asarray(x), dt)
    if isinstance(x, list | tuple) and any(isinstance(v, torch.Tensor) for v in x):
        return torch.stack([asarray(v, dtype) for v in x])
    t = torch.as_tensor(x, dtype=dt)
    if dt is None and t.dtype == torch.float64:
        t = t.to(torch.float32)
    return t


def numpy_view(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing ``array``'s memory; copied only where torch cannot share it.

    Raises:
        TypeError: the array holds no numbers (strings, objects).
    """
    dtype = array.dtype
    if dtype.kind not in "biufc":
        raise TypeError(
            f"Cannot make a tensor of a NumPy array of dtype {dtype}; expected a "
            "bool, integer, float or complex array."
        )
    flags = array.flags
    if not (
        flags.writeable
        and dtype.isnative
        and (flags.c_contiguous or all(s >= 0 for s in array.strides))
    ):
        # torch.from_numpy refuses negative strides and foreign byte order, and warns on
        # read-only memory; a contiguous native copy is accepted by all three.
        array = np.array(array, dtype=dtype.newbyteorder("="), order="C", copy=True)
    return torch.from_numpy(array)


def _from_numpy(array: np.ndarray, dtype: torch.dtype | None) -> Tensor:
    t = numpy_view(array)
    if dtype is None:
        return t.to(torch.float32) if t.dtype == torch.float64 else t
    return t if t.dtype == dtype else t.to(dtype)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy array of ``x``: detached from the graph, on the CPU (bfloat16 -> float32)."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype == torch.bfloat16:
            x = x.to(torch.float32)
        return x.cpu().numpy()
    return np.asarray(x)


def cast(x: Any, dtype: Any) -> Tensor:
    # asarray returns a tensor as it is: skip the call. ``Tensor``, not ``torch.Tensor``:
    # torch.compile would guard on this module's ``torch`` being torch's own, a Python
    # guard function run on every compiled call.
    if not isinstance(x, Tensor):
        x = asarray(x)
    dt = _DTYPES.get(dtype) if isinstance(dtype, str) else None  # the hot path: a name
    if dt is None:
        dt = to_torch_dtype(dtype)
    return x if x.dtype == dt else x.to(dt)


def shape(x: Any) -> tuple[int, ...]:
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    return tuple(int(s) for s in np.shape(x))


# ----------------------------------------------------------------------------------------
# shaping


def reshape(x: Any, shape: Shape) -> Tensor:
    if not isinstance(x, Tensor):  # see cast
        x = asarray(x)
    shape = shape if type(shape) is tuple else _shape(shape)
    # Already that shape (e.g. flattening flat features): return x, skipping the view.
    # Every axis equal, or -1 (which then can only be that axis's size); checked inline,
    # as this runs in every forward pass of the default encoders.
    current = x.shape
    if len(current) == len(shape) and shape.count(-1) <= 1:
        for have, want in zip(current, shape):
            if have != want and want != -1:
                break
        else:
            return x
    return x.reshape(shape)


def concatenate(xs: Sequence[Any], axis: int = -1) -> Tensor:
    return torch.cat([asarray(x) for x in xs], dim=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    return torch.stack([asarray(x) for x in xs], dim=axis)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = -1) -> list[Tensor]:
    """NumPy semantics: an int is a number of equal sections, a list gives split indices.

    Raises:
        ValueError: an int number of sections that does not divide the axis.
    """
    x = asarray(x)
    if isinstance(indices_or_sections, int | np.integer):
        sections = int(indices_or_sections)
        size = x.shape[axis]
        if sections <= 0 or size % sections:
            raise ValueError(
                f"split expected a number of sections that divides the axis; received "
                f"{sections} sections for an axis of size {size}. Pass a divisor of {size} "
                "or a list of split indices."
            )
        return list(torch.tensor_split(x, sections, dim=axis))
    return list(torch.tensor_split(x, [int(i) for i in indices_or_sections], dim=axis))


def squeeze(x: Any, axis: int | Sequence[int]) -> Tensor:
    """Removes size-1 axes; like NumPy, an axis that is not of size 1 raises ``ValueError``."""
    x = asarray(x)
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    for a in axes:
        if x.shape[int(a)] != 1:
            raise ValueError(
                f"squeeze expected axis {int(a)} of size 1; received shape {tuple(x.shape)}."
            )
    return x.squeeze(int(axes[0])) if len(axes) == 1 else x.squeeze(tuple(int(a) for a in axes))


def expand_dims(x: Any, axis: int | Sequence[int]) -> Tensor:
    x = asarray(x)
    if isinstance(axis, int | np.integer):
        return x.unsqueeze(int(axis))
    out_ndim = x.dim() + len(axis)
    for a in sorted(int(a) % out_ndim for a in axis):
        x = x.unsqueeze(a)
    return x


def broadcast_to(x: Any, shape: Shape) -> Tensor:
    return torch.broadcast_to(asarray(x), _shape(shape))


# ----------------------------------------------------------------------------------------
# reductions


def _all_dims(x: Tensor, axis: Any) -> Any:
    return tuple(range(x.dim())) if axis is None else axis


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = asarray(x)
    axis = _axis(axis)
    if axis is None and not keepdims:
        return torch.sum(x)
    if x.dim() == 0:
        return torch.sum(x)
    return torch.sum(x, dim=_all_dims(x, axis), keepdim=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    x = _floating(x)
    axis = _axis(axis)
    if (axis is None and not keepdims) or x.dim() == 0:
        return torch.mean(x)
    return torch.mean(x, dim=_all_dims(x, axis), keepdim=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = asarray(x)
    return torch.amax(x, dim=_all_dims(x, _axis(axis)), keepdim=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = asarray(x)
    return torch.amin(x, dim=_all_dims(x, _axis(axis)), keepdim=keepdims)


def argmax(x: Any, axis: int = -1) -> Tensor:
    """Index of the first maximum along ``axis`` (int64)."""
    return torch.argmax(asarray(x), dim=int(axis))


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Tensor:
    # torch.logsumexp shifts by the max and maps an all -inf slice to -inf, like NumPy ops.
    x = _floating(x)
    return torch.logsumexp(x, dim=_all_dims(x, _axis(axis)), keepdim=keepdims)


# ----------------------------------------------------------------------------------------
# elementwise


def exp(x: Any) -> Tensor:
    return torch.exp(_floating(x))


def log(x: Any) -> Tensor:
    return torch.log(_floating(x))


def log1p(x: Any) -> Tensor:
    return torch.log1p(_floating(x))


def tanh(x: Any) -> Tensor:
    return torch.tanh(_floating(x))


def sqrt(x: Any) -> Tensor:
    return torch.sqrt(_floating(x))


def square(x: Any) -> Tensor:
    return torch.square(asarray(x))


def abs(x: Any) -> Tensor:  # noqa: A001
    return torch.abs(asarray(x))


def sigmoid(x: Any) -> Tensor:
    return torch.sigmoid(_floating(x))


def softplus(x: Any) -> Tensor:
    # torch's threshold returns x itself above 20, where log1p(exp(-x)) < 2.1e-9.
    return F.softplus(_floating(x))


def relu(x: Any) -> Tensor:
    return torch.relu(asarray(x))


def _operand(value: Any, like: Tensor) -> Tensor:
    """A second operand as a tensor; Python numbers take ``like``'s dtype and device."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if like.is_floating_point() or isinstance(value, int):
            return torch.tensor(value, dtype=like.dtype, device=like.device)
        return torch.tensor(value, dtype=torch.float32, device=like.device)
    return asarray(value).to(like.device)


def maximum(a: Any, b: Any) -> Tensor:
    a = asarray(a)
    return torch.maximum(a, _operand(b, a))


def minimum(a: Any, b: Any) -> Tensor:
    a = asarray(a)
    return torch.minimum(a, _operand(b, a))


def clip(x: Any, lo: Any, hi: Any) -> Tensor:
    x = asarray(x)
    numbers = all(v is None or isinstance(v, int | float) for v in (lo, hi))
    if numbers:
        return torch.clamp(x, lo, hi)
    lo_t = None if lo is None else _operand(lo, x)
    hi_t = None if hi is None else _operand(hi, x)
    return torch.clamp(x, lo_t, hi_t)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    cond = asarray(cond)
    if cond.dtype != torch.bool:
        cond = cond.to(torch.bool)
    if isinstance(a, torch.Tensor):
        return torch.where(cond, a, _operand(b, a))
    if isinstance(b, torch.Tensor):
        return torch.where(cond, _operand(a, b), b)
    return torch.where(cond, asarray(a), asarray(b))


def softmax(x: Any, axis: int = -1) -> Tensor:
    return torch.softmax(_floating(x), dim=int(axis))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    return torch.log_softmax(_floating(x), dim=int(axis))


# ----------------------------------------------------------------------------------------
# indexing


def take_along_axis(x: Any, idx: Any, axis: int) -> Tensor:
    x = asarray(x)
    idx = asarray(idx)
    if idx.dtype != torch.int64:
        idx = idx.to(torch.int64)
    return torch.take_along_dim(x, idx, dim=int(axis))


def one_hot(idx: Any, depth: int, dtype: Any = "float32") -> Tensor:
    """One-hot rows along a new last axis; an index outside ``[0, depth)`` gives zeros."""
    idx = asarray(idx)
    # A comparison (not F.one_hot) so out-of-range indices give zeros instead of an error.
    hot = idx.unsqueeze(-1) == torch.arange(int(depth), device=idx.device, dtype=idx.dtype)
    return hot.to(to_torch_dtype(dtype))


def stop_gradient(x: Any) -> Tensor:
    return asarray(x).detach()


# ----------------------------------------------------------------------------------------
# creation


def zeros(shape: Shape, dtype: Any = "float32") -> Tensor:
    return torch.zeros(_shape(shape), dtype=to_torch_dtype(dtype))


def ones(shape: Shape, dtype: Any = "float32") -> Tensor:
    return torch.ones(_shape(shape), dtype=to_torch_dtype(dtype))


def full(shape: Shape, value: Any, dtype: Any = "float32") -> Tensor:
    return torch.full(_shape(shape), value, dtype=to_torch_dtype(dtype))


def zeros_like(x: Any) -> Tensor:
    return torch.zeros_like(asarray(x))


def ones_like(x: Any) -> Tensor:
    return torch.ones_like(asarray(x))


def arange(n: int, dtype: Any = "int64") -> Tensor:
    return torch.arange(int(n), dtype=to_torch_dtype(dtype))


def linspace(start: float, stop: float, num: int) -> Tensor:
    return torch.linspace(start, stop, int(num), dtype=torch.float32)


# ----------------------------------------------------------------------------------------
# random


def rng(seed: int | None = None) -> torch.Generator:
    """A new CPU ``torch.Generator``; ``seed=None`` seeds it from fresh entropy."""
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def as_rng(r: None | int | torch.Generator) -> torch.Generator:
    """The generator to draw from.

    ``None`` gives torch's process-wide default generator (``torch.manual_seed`` seeds
    it), an int seeds a new generator (the same seed gives the same draws), and a
    ``torch.Generator`` is returned as is.
    """
    if r is None:
        return torch.default_generator
    if isinstance(r, torch.Generator):
        return r
    # bool is an int subclass, but rng=True is a mistake, not seed 1.
    if isinstance(r, int | np.integer) and not isinstance(r, bool | np.bool_):
        return rng(int(r))
    raise ValueError(
        "Expected None, an int seed or a torch.Generator; received "
        f"{r!r} of type {type(r).__name__}. Pass rng=None for the default generator, "
        "an int to seed a new one, or a generator made by ops.rng(seed)."
    )


def _generator(
    r: None | int | torch.Generator,
) -> tuple[torch.Generator | None, torch.device | None]:
    g = as_rng(r)
    if g is torch.default_generator:
        # The same draw as passing it, but torch.compile traces generator=None without
        # a graph break, and torch's default device (set_default_device) is honoured.
        return None, None
    return g, g.device


def _draw_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype.is_floating_point else torch.float32


def uniform(
    rng: None | int | torch.Generator,
    shape: Shape,
    low: float = 0.0,
    high: float = 1.0,
    dtype: Any = "float32",
) -> Tensor:
    """Draws from ``[low, high)`` on the generator's device (torch's default device for ``None``)."""
    g, device = _generator(rng)
    dt = to_torch_dtype(dtype)
    u = torch.rand(_shape(shape), generator=g, dtype=_draw_dtype(dt), device=device)
    if low != 0.0 or high != 1.0:
        u = u * (high - low) + low
    return u if u.dtype == dt else u.to(dt)


def normal(rng: None | int | torch.Generator, shape: Shape, dtype: Any = "float32") -> Tensor:
    """Standard normal draws on the generator's device (torch's default device for ``None``)."""
    g, device = _generator(rng)
    dt = to_torch_dtype(dtype)
    n = torch.randn(_shape(shape), generator=g, dtype=_draw_dtype(dt), device=device)
    return n if n.dtype == dt else n.to(dt)

