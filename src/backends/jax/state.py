"""The flat state of an NNX module tree: ``{"dotted.path": live nnx.Variable}``.

Paths are NNX graph paths joined with dots, so the keys of neutral layers are the
canonical ones (``encoder.layers.0.kernel``) and those of native ``nnx`` layers are their
NNX state paths (``linear.kernel``). Every array ``nnx.Variable`` is part of the state
(``nnx.Param``, ``nnx.BatchStat``, target parameters, ...) except the PRNG state of
``nnx.Rngs``, whose key arrays are not numbers and are re-seeded, not restored.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from flax import nnx

__all__ = ["named_state", "read", "write"]


def _in_state(value: Any) -> bool:
    return (
        isinstance(value, nnx.Variable)
        and not isinstance(value, nnx.RngState)
        and isinstance(value.get_raw_value(), jax.Array | np.ndarray)
    )


def named_state(root: Any) -> dict[str, nnx.Variable]:
    """Every state variable under ``root`` by dotted path (live objects, not copies).

    A variable reachable under two paths (shared weights) is listed once, under the
    first path NNX visits (NNX orders attributes by name).
    """
    return {
        ".".join(str(part) for part in path): value
        for path, value in nnx.iter_graph(root)
        if _in_state(value)
    }


def read(variable: nnx.Variable, out: np.ndarray | None = None) -> np.ndarray:
    """A writable NumPy copy of the variable's value (written into ``out`` when given)."""
    if out is None:
        return np.array(variable.get_value(), copy=True)
    np.copyto(out, variable.get_value())
    return out


def write(variable: nnx.Variable, value: np.ndarray) -> None:
    """Replaces the variable's value (the same ``Variable`` object, so compiled
    forwards, optimizers and ``nnx.split`` states that hold it see the new value)."""
    # The module must never see the caller's buffer: jnp.array(value, copy=True) and
    # device_put(value) both read it asynchronously, after this call returns, so writing
    # to it right after set_state could change the weights. The transfer reads a private
    # host copy instead.
    variable.set_value(jax.device_put(np.array(value, copy=True)))
