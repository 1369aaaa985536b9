"""The ONNX backend has no compiler of its own (ONNX Runtime optimizes the exported file)."""

from __future__ import annotations

from typing import Any

__all__ = ["compile_module"]


def compile_module(module: Any, **options: Any) -> Any:
    """Returns ``module`` unchanged.

    Raises:
        TypeError: options were given; the onnx backend takes none.
    """
    if options:
        raise TypeError(f"The onnx backend's compile takes no options; received {sorted(options)}.")
    return module
