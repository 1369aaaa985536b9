"""OnnxRLModule: the module base whose forward passes are traced into ONNX graphs."""

from __future__ import annotations

import numpy as np

from rlmodule_core.backend import tree
from rlmodule_core.rl_module import RLModule

from . import nn, ops
from .graph import Sym, current_graph
from .state import named_state

__all__ = ["OnnxRLModule"]


class OnnxRLModule(RLModule):
    """RLModule base of the ONNX backend: holds NumPy parameters, computes nothing.

    Its forward passes run only on traced tensors, inside
    ``rlmodule_core.export_onnx``, which builds a neutral module on this backend from
    a checkpoint (or another module's state) and records the graph.

    Example:
        >>> import rlmodule_core as rlm
        >>> rlm.export_onnx("runs/ppo/checkpoint/module", "policy.onnx", with_actions=True)
    """

    _backend_name = "onnx"
    nn = nn
    ops = ops

    def _run_inference(self, fn, batch, kwargs):
        if not any(isinstance(leaf, Sym) for leaf in tree.leaves(batch)):
            current_graph(f"forward of {type(self).__qualname__}")  # raises: not exporting
        return fn(batch, **kwargs)

    def _run_train(self, fn, batch, kwargs):
        return self._run_inference(fn, batch, kwargs)

    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return {k: (v.shape, v.dtype) for k, v in named_state(self).items()}

    def _state_read(self, keys: list[str]) -> dict[str, np.ndarray]:
        arrays = named_state(self)
        return {k: arrays[k].copy() for k in keys}

    def _state_write(self, state: dict[str, np.ndarray]) -> None:
        arrays = named_state(self)
        for key, value in state.items():
            np.copyto(arrays[key], value)
