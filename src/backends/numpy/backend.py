"""The NumPy backend object."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlmodule_core.backend import Backend
from rlmodule_core.backend.base import check_seed

from . import nn, ops, targets
from .compile import compile_module
from .module import NumpyRLModule

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    """NumPy: inference and deployment without any framework (no gradients)."""

    name = "numpy"
    aliases = ("np",)
    extra = None
    RLModule = NumpyRLModule
    Block = nn.Block
    ops = ops
    nn = nn

    def is_tensor(self, x: Any) -> bool:
        return isinstance(x, np.ndarray)

    def make_target_network(self, net: Any) -> Any:
        return targets.make_target_network(net)

    def update_target_network(self, main: Any, target: Any, tau: float) -> None:
        targets.update_target_network(main, target, tau)

    def seed(self, seed: int) -> None:
        ops._seed_default(check_seed(seed))

    def compile(self, module: Any, **options: Any) -> Any:
        return compile_module(module, **options)


backend = NumpyBackend()
