"""NumPy has no compiler: compiling is the identity, so generic code runs unchanged."""

from __future__ import annotations

from typing import Any

from rlmodule_core.backend.compiling import check_options

__all__ = ["compile_module", "OPTIONS"]

#: The options compile takes: none.
OPTIONS: dict[str, str] = {}


def compile_module(module: Any, **options: Any) -> Any:
    """Returns ``module`` unchanged (NumPy runs eagerly).

    Example:
        >>> module = rlm.get_backend("numpy").compile(module)   # the same object

    Raises:
        TypeError: options were given; the NumPy backend takes none.
    """
    check_options("numpy", options, OPTIONS)
    return module
