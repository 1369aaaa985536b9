"""The flat state of an ONNX-backend module tree: ``{"dotted.path": live array}``, and layer paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .nn import Layer

__all__ = ["layer_paths", "named_state"]


def _children(obj: Any) -> list[tuple[str, Any]]:
    children = getattr(obj, "children", None)
    if callable(children):
        return children()
    return [(name, value) for name, value in vars(obj).items() if isinstance(value, Layer)]


def _walk(root: Any) -> Iterator[tuple[str, Any]]:
    """``(dotted path, layer)`` of every layer under ``root`` once, in attribute order."""
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("", root)]
    while stack:
        path, obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield path, obj
        # Reversed so that the stack pops children in attribute order.
        for name, child in reversed(_children(obj)):
            stack.append((f"{path}.{name}" if path else name, child))


def named_state(root: Any) -> dict[str, np.ndarray]:
    """Every parameter under ``root`` by dotted path (live references, not copies).

    A layer reachable under two paths (shared weights) is listed once, under the first.
    """
    out: dict[str, np.ndarray] = {}
    for path, obj in _walk(root):
        prefix = f"{path}." if path else ""
        for name in getattr(obj, "_param_names", ()):
            value = getattr(obj, name, None)
            if value is not None:
                out[prefix + name] = value
    return out


def layer_paths(root: Any) -> dict[int, str]:
    """``{id(layer): dotted path}`` of every layer under ``root`` (used to name nodes)."""
    return {id(obj): path for path, obj in _walk(root) if path}
