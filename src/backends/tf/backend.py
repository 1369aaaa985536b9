"""The TensorFlow / Keras 3 backend object."""

from __future__ import annotations

from typing import Any

from rlmodule_core.backend import Backend

from . import nn, ops, optim, targets
from .compile import compile_module
from .module import TfRLModule

__all__ = ["TfBackend"]


class TfBackend(Backend):
    """TensorFlow with Keras 3: modules are ``keras.Model`` objects, forwards run
    through ``tf.function``."""

    name = "tf"
    aliases = ("tensorflow", "tf2", "keras")
    extra = "tf"
    RLModule = TfRLModule
    Block = nn.Block
    ops = ops
    nn = nn

    def is_tensor(self, x: Any) -> bool:
        return ops.is_tensor(x)

    def make_target_network(self, net: Any) -> Any:
        return targets.make_target_network(net)

    def update_target_network(self, main: Any, target: Any, tau: float) -> None:
        targets.update_target_network(main, target, tau)

    def make_optimizer(self, module: Any, *, lr: float, grad_clip: float | None = None, eps: float = 1e-8) -> Any:
        return optim.make_optimizer(module, lr=lr, grad_clip=grad_clip, eps=eps)

    def compile(self, module: Any, **options: Any) -> Any:
        return compile_module(module, **options)


backend = TfBackend()
