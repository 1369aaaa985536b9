"""The PyTorch backend object."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from rlmodule_core.backend import Backend
from rlmodule_core.backend.base import check_seed, check_thread_counts

from . import nn, ops, optim, targets
from .compile import compile_module
from .module import TorchRLModule

__all__ = ["TorchBackend"]


class TorchBackend(Backend):
    """PyTorch: ``TorchRLModule`` is a ``torch.nn.Module``; gradients, optimizers, compile.

    Example:
        >>> backend = rlm.get_backend("torch")
        >>> module = backend.compile(spec.build())
    """

    name = "torch"
    aliases = ("pytorch",)
    extra = "torch"
    RLModule = TorchRLModule
    Block = nn.Block
    ops = ops
    nn = nn

    def is_tensor(self, x: Any) -> bool:
        return isinstance(x, torch.Tensor)

    def make_target_network(self, net: Any) -> Any:
        return targets.make_target_network(net)

    def update_target_network(self, main: Any, target: Any, tau: float) -> None:
        targets.update_target_network(main, target, tau)

    def make_optimizer(
        self, module: Any, *, lr: float, grad_clip: float | None = None, eps: float = 1e-8
    ) -> Any:
        return optim.TorchOptimizer(module, lr=lr, grad_clip=grad_clip, eps=eps)

    def seed(self, seed: int) -> None:
        torch.manual_seed(check_seed(seed))  # as_rng(None) is torch's default generator

    def set_threads(self, threads: int, *, inter_op: int | None = None) -> None:
        inter_op = check_thread_counts(threads, inter_op)
        torch.set_num_threads(threads)
        if torch.get_num_interop_threads() == inter_op:
            return
        try:
            torch.set_num_interop_threads(inter_op)
        except RuntimeError:  # torch fixes the pool once inter-op work has started
            warnings.warn(
                f"torch's inter-op threads stay at {torch.get_num_interop_threads()} (requested {inter_op}): "
                "torch allows setting them only before its first parallel work. Call "
                "set_threads first thing in the process.", RuntimeWarning, stacklevel=2,
            )

    def compile(self, module: Any, **options: Any) -> Any:
        return compile_module(module, **options)

    def export_onnx_function(self, module: Any, fn: Any, *args: Any) -> None:
        """ONNX export of a native module's forward (see ``onnx_export.export_function``)."""
        from .onnx_export import export_function

        export_function(module, fn, *args)


backend = TorchBackend()
