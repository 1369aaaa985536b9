"""rlmodule_onnx: the ONNX export backend of rlmodule-core (needs only the ``onnx`` package).

Neutral modules built on this backend hold their parameters as NumPy arrays; tracing a
forward pass writes an ONNX graph. Use it through ``rlmodule_core.export_onnx`` or
``rlmodule export``.
"""

from .backend import backend
from .export import export_onnx
from .graph import OnnxExportError
from .module import OnnxRLModule
from .targets import make_target_network, update_target_network

__all__ = [
    "OnnxExportError", "OnnxRLModule", "backend", "export_onnx", "make_target_network",
    "update_target_network",
]
