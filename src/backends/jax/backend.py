"""The JAX / Flax NNX backend object."""

from __future__ import annotations

import os
import warnings
from typing import Any

import jax

from rlmodule_core.backend import Backend
from rlmodule_core.backend.base import check_seed, check_thread_counts

from . import nn, ops, optim, prng, targets
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

    def seed(self, seed: int) -> None:
        prng.seed_default(check_seed(seed))

    def set_threads(self, threads: int, *, inter_op: int | None = None) -> None:
        """XLA on CPU reads its threading from ``XLA_FLAGS`` when JAX starts its backend.

        ``threads=1`` turns off Eigen's multi-threading (``--xla_cpu_multi_thread_eigen=false``);
        more than one keeps XLA's default pool (one thread per core): XLA has no flag for an
        exact count. ``inter_op`` has no counterpart in XLA and is only validated.
        """
        check_thread_counts(threads, inter_op)
        flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(_EIGEN_FLAG)]
        if threads == 1:
            flags.append(f"{_EIGEN_FLAG}=false")
        wanted = " ".join(flags)
        if wanted == os.environ.get("XLA_FLAGS", ""):
            return
        if _backend_started():
            warnings.warn(
                f"JAX's CPU backend is already running with XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; "
                f"threads={threads} needs XLA_FLAGS={wanted!r}. Call set_threads before the first JAX "
                "array is made, or set XLA_FLAGS before starting Python.", RuntimeWarning, stacklevel=2,
            )
            return
        os.environ["XLA_FLAGS"] = wanted

    def compile(self, module: Any, **options: Any) -> Any:
        """Sets how the forward passes of ``module`` are jitted (see ``rlmodule_jax.compile``).

        JAX modules are jitted by default; options: ``static_kwargs`` (names of numeric
        forward keyword arguments to treat as static), ``jit=False`` (run eagerly).
        """
        return compile_module(module, **options)


_EIGEN_FLAG = "--xla_cpu_multi_thread_eigen"


def _backend_started() -> bool:
    """Whether JAX has created its backends (after which XLA_FLAGS is no longer read)."""
    from jax._src import xla_bridge  # no public API says whether the backends exist

    return xla_bridge.backends_are_initialized()


backend = JaxBackend()
