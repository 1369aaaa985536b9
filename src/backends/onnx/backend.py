"""The ONNX backend object."""

from __future__ import annotations

from typing import Any

from rlmodule_core.backend import Backend

from . import nn, ops, targets
from .compile import compile_module
from .graph import Sym
from .module import OnnxRLModule

__all__ = ["OnnxBackend", "backend"]


class OnnxBackend(Backend):
    """ONNX: neutral modules traced into ONNX graphs (export only; no compute, no training)."""

    name = "onnx"
    aliases = ()
    computes = False
    extra = "onnx"
    RLModule = OnnxRLModule
    Block = nn.Block
    ops = ops
    nn = nn

    def is_tensor(self, x: Any) -> bool:
        return isinstance(x, Sym)

    def make_target_network(self, net: Any) -> Any:
        return targets.make_target_network(net)

    def update_target_network(self, main: Any, target: Any, tau: float) -> None:
        targets.update_target_network(main, target, tau)

    def compile(self, module: Any, **options: Any) -> Any:
        return compile_module(module, **options)

    def export_onnx(self, source: Any, path: Any, **options: Any) -> str:
        """Writes ``source`` (a module or a checkpoint path) as an ONNX file; see ``export.py``."""
        from .export import export_onnx

        return export_onnx(source, path, **options)

    def verify_onnx(self, path: Any, source: Any, **options: Any) -> tuple[float, int]:
        """ONNX Runtime against the source module on sampled inputs (see ``verify.py``)."""
        from .verify import verify

        return verify(path, source, **options)

    def describe_onnx(self, path: Any) -> dict[str, Any]:
        """What an exported ONNX file holds (see ``describe.py``); read by ``rlmodule inspect``."""
        from .describe import describe

        return describe(path)


backend = OnnxBackend()
