"""The JAX / Flax NNX backend object."""

from __future__ import annotations

from typing import Any

import jax

from rlmodule_core.backend import Backend

from . import nn, ops, optim, targets
from .compile import compile_module
from .module import JaxRLModule

__all__ = ["JaxBackend"]


class JaxBackend(Backend):
    """JAX with Flax NNX modules, optax for optimization, ``jax.jit`` for compiling.

    Example:
        >>> backend = rlm.get_backend("flax")
        >>> module = backend.compile(spec.build())      # jitted forward passes
    """

    name = "jax"
    aliases = ("flax",)
    extra = "jax"
    RLModule = JaxRLModule
    Block = nn.Block
    ops = ops
    nn = nn

    def is_tensor(self, x: Any) -> bool:
        return isinstance(x, jax.Array)

    def make_target_network(self, net: Any) -> Any:
        return targets.make_target_network(net)

    def update_target_network(self, main: Any, target: Any, tau: float) -> None:
        targets.update_target_network(main, target, tau)

    def make_optimizer(self, module: Any, *, lr: float, grad_clip: float | None = None, eps: float = 1e-8) -> Any:
        return optim.make_optimizer(module, lr=lr, grad_clip=grad_clip, eps=eps)

    def compile(self, module: Any, **options: Any) -> Any:
        """Sets how the forward passes of ``module`` are jitted (see ``rlmodule_jax.compile``).

        JAX modules are jitted by default; options: ``static_kwargs`` (names of numeric
        forward keyword arguments to treat as static), ``jit=False`` (run eagerly).
        """
        return compile_module(module, **options)


backend = JaxBackend()
