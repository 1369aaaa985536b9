"""NumpyRLModule: the framework-free module base, for reference and deployment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rlmodule_core.rl_module import RLModule

from . import nn, ops
from .state import named_arrays


def to_arrays(batch: Any) -> Any:
    """Converts the leaves of a (nested) batch to arrays; float leaves become float32.

    Returns the batch object itself when nothing needs converting (no copy on the hot path).
    """
    if isinstance(batch, np.ndarray):
        return batch.astype(np.float32) if batch.dtype == np.float64 else batch
    if type(batch) is dict or isinstance(batch, Mapping):  # the exact type first: cheaper
        converted = None
        for key, value in batch.items():
            new = to_arrays(value)
            if new is not value:
                if converted is None:
                    converted = dict(batch)
                converted[key] = new
        return batch if converted is None else converted
    if isinstance(batch, list | tuple):
        return type(batch)(to_arrays(v) for v in batch)
    if isinstance(batch, float | int | bool) or batch is None or isinstance(batch, str):
        return batch
    array = np.asarray(batch)
    return array.astype(np.float32) if array.dtype == np.float64 else array


class NumpyRLModule(RLModule):
    """RLModule base on NumPy: inference only (no gradients), no framework needed.

    Runs any neutral module and is the target of framework-free deployment:
    ``RLModule.from_checkpoint(path, framework="numpy")``.

    Example:
        >>> module = RLModule.from_checkpoint("ckpt", framework="numpy")
        >>> out = module.forward_inference({"obs": obs})
    """

    _backend_name = "numpy"
    nn = nn
    ops = ops

    def _run_inference(self, fn, batch, kwargs):
        return fn(to_arrays(batch), **kwargs)

    def _run_train(self, fn, batch, kwargs):
        return fn(to_arrays(batch), **kwargs)

    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return {k: (v.shape, v.dtype) for k, v in named_arrays(self).items()}

    def _state_read(self, keys: list[str]) -> dict[str, np.ndarray]:
        arrays = named_arrays(self)
        return {k: arrays[k].copy() for k in keys}

    def _state_read_into(self, keys: list[str], out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = named_arrays(self)
        state = {}
        for key in keys:
            if key in out:
                np.copyto(out[key], arrays[key])
                state[key] = out[key]
            else:
                state[key] = arrays[key].copy()
        return state

    def _state_write(self, state: dict[str, np.ndarray]) -> None:
        arrays = named_arrays(self)
        for key, value in state.items():
            np.copyto(arrays[key], value)
