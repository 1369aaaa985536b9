"""The TensorFlow / Keras 3 backend object."""

from __future__ import annotations

import warnings
from typing import Any

from rlmodule_core.backend import Backend
from rlmodule_core.backend.base import check_seed, check_thread_counts

from . import nn, ops, optim, targets
from ._keras import tf
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

    def seed(self, seed: int) -> None:
        ops._seed_default(check_seed(seed))

    def set_threads(self, threads: int, *, inter_op: int | None = None) -> None:
        inter_op = check_thread_counts(threads, inter_op)
        threading = tf.config.threading
        if (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()) == (
            threads, inter_op,
        ):
            return
        try:
            threading.set_intra_op_parallelism_threads(threads)
            threading.set_inter_op_parallelism_threads(inter_op)
        except RuntimeError:  # TF fixes its pools when its runtime starts (first op)
            warnings.warn(
                f"TensorFlow's thread pools are already running (intra-op "
                f"{threading.get_intra_op_parallelism_threads()}, inter-op "
                f"{threading.get_inter_op_parallelism_threads()}; 0 means one per core); requested "
                f"{threads}/{inter_op}. Call set_threads before the first TensorFlow op, or set "
                "TF_NUM_INTRAOP_THREADS/TF_NUM_INTEROP_THREADS before starting Python.",
                RuntimeWarning, stacklevel=2,
            )

    def compile(self, module: Any, **options: Any) -> Any:
        return compile_module(module, **options)


backend = TfBackend()
