"""The flat canonical state of a torch module tree: ``{"dotted.path": Entry}``.

One walker serves the neutral layers and native ``torch.nn`` layers alike. A neutral
layer maps its tensors to canonical names and layouts through its ``_state_layout``
(``Dense.weight`` (out, in) is the state's ``kernel`` (in, out)); any other module
contributes its parameters and persistent buffers under their own names, which makes
a native module's keys its ``state_dict`` keys. A tensor (or module) reachable under two
paths is listed once, under the first.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .nn import CONV, TRANSPOSED
from .ops import numpy_view

__all__ = ["Entry", "named_state", "read", "shape_and_dtype", "write"]

# numpy has no bfloat16: such tensors are read and written as float32.
_NUMPY_DTYPES: dict[torch.dtype, np.dtype] = {
    torch.float16: np.dtype(np.float16),
    torch.bfloat16: np.dtype(np.float32),
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
    torch.int8: np.dtype(np.int8),
    torch.int16: np.dtype(np.int16),
    torch.int32: np.dtype(np.int32),
    torch.int64: np.dtype(np.int64),
    torch.uint8: np.dtype(np.uint8),
    torch.bool: np.dtype(np.bool_),
    torch.complex64: np.dtype(np.complex64),
    torch.complex128: np.dtype(np.complex128),
}


class Entry(NamedTuple):
    """A live tensor and how it maps to its canonical array (None: as stored)."""

    tensor: torch.Tensor
    transform: str | None = None


def _canonical_view(tensor: torch.Tensor, transform: str | None) -> torch.Tensor:
    if transform == TRANSPOSED:
        return tensor.t()
    if transform == CONV:
        return tensor.permute(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
    return tensor


def _stored_view(canonical: torch.Tensor, transform: str | None) -> torch.Tensor:
    if transform == TRANSPOSED:
        return canonical.t()
    if transform == CONV:
        return canonical.permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    return canonical


def named_state(root: torch.nn.Module) -> dict[str, Entry]:
    """Every state entry under ``root`` by canonical dotted path (live tensors)."""
    out: dict[str, Entry] = {}
    seen_modules: set[int] = set()
    seen_tensors: set[int] = set()

    def add(key: str, tensor: torch.Tensor | None, transform: str | None = None) -> None:
        if tensor is not None and id(tensor) not in seen_tensors:
            seen_tensors.add(id(tensor))
            out[key] = Entry(tensor, transform)

    stack: list[tuple[str, torch.nn.Module]] = [("", root)]
    while stack:
        prefix, module = stack.pop()
        if id(module) in seen_modules:
            continue
        seen_modules.add(id(module))
        # On the class: a failed instance look-up runs nn.Module.__getattr__ (slow).
        layout = getattr(type(module), "_state_layout", None)
        if layout is not None:
            for name, attribute, transform in layout:
                add(prefix + name, getattr(module, attribute), transform)
        else:
            for name, param in module._parameters.items():
                add(prefix + name, param)
            skipped = module._non_persistent_buffers_set
            for name, buf in module._buffers.items():
                if name not in skipped:
                    add(prefix + name, buf)
        # Reversed so that the stack pops children in registration order.
        for name, child in reversed(list(module._modules.items())):
            if child is not None:
                stack.append((f"{prefix}{name}.", child))
    return out


def shape_and_dtype(entry: Entry) -> tuple[tuple[int, ...], np.dtype]:
    """The canonical shape and the NumPy dtype (float32 for bfloat16) of an entry."""
    stored = tuple(entry.tensor.shape)
    # Permuted like _canonical_view, without making a view tensor per entry.
    if entry.transform == TRANSPOSED:
        shape = stored[::-1]
    elif entry.transform == CONV:
        shape = (stored[2], stored[3], stored[1], stored[0])
    else:
        shape = stored
    try:
        return shape, _NUMPY_DTYPES[entry.tensor.dtype]
    except KeyError:
        raise TypeError(
            f"A state tensor of dtype {entry.tensor.dtype} has no NumPy equivalent. "
            f"Expected one of {', '.join(str(d) for d in _NUMPY_DTYPES)}."
        ) from None


def read(entry: Entry, out: np.ndarray | None = None) -> np.ndarray:
    """A C-ordered NumPy copy of the entry's canonical array, on the CPU.

    ``out`` (C-contiguous, writable, of the canonical shape and NumPy dtype) is filled
    in place and returned instead of a new array.
    """
    t = _canonical_view(entry.tensor.detach(), entry.transform)
    if out is not None:
        # torch copies any device, dtype and layout; a transposed source takes its
        # cache-blocked transpose (NumPy's strided copy of one runs ~10x slower).
        torch.from_numpy(out).copy_(t)
        return out
    if t.dtype == torch.bfloat16 or t.device.type != "cpu":
        # .to() copies already; .contiguous() then only copies a transposed view.
        return t.to("cpu", torch.float32 if t.dtype == torch.bfloat16 else t.dtype).contiguous().numpy()
    if t.is_contiguous():
        return np.array(t.numpy(), copy=True)
    return t.contiguous().numpy()  # a fresh tensor, transposed by torch (see above)


def write(entries: dict[str, Entry], state: dict[str, np.ndarray]) -> None:
    """Copies canonical arrays into the live tensors in place (any device or dtype), no autograd."""
    with torch.no_grad():
        for key, array in state.items():
            entry = entries[key]
            entry.tensor.copy_(_stored_view(numpy_view(array), entry.transform))
