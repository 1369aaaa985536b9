"""The flat state of a NumPy module tree: ``{"dotted.path": live array}``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .nn import Layer

__all__ = ["named_state"]


def _children(obj: Any) -> list[tuple[str, Any]]:
    children = getattr(obj, "children", None)
    if callable(children):
        return children()
    return [(name, value) for name, value in vars(obj).items() if isinstance(value, Layer)]


def named_state(root: Any) -> dict[str, np.ndarray]:
    """Every parameter under ``root`` by dotted path (live references, not copies).

    A layer reachable under two paths (shared weights) is listed once, under the first.
    """
    out: dict[str, np.ndarray] = {}
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("", root)]
    while stack:
        prefix, obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        for name in getattr(obj, "_param_names", ()):
            value = getattr(obj, name, None)
            if value is not None:
                out[prefix + name] = value
        # Reversed so that the stack pops children in attribute order.
        for name, child in reversed(_children(obj)):
            stack.append((f"{prefix}{name}.", child))
    return out
