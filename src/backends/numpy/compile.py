"""NumPy has no compiler: compiling is the identity, so generic code runs unchanged."""

from __future__ import annotations

from typing import Any


def compile_module(module: Any, **options: Any) -> Any:
    """Returns ``module`` unchanged (NumPy runs eagerly).

    Raises:
        TypeError: options were given; the NumPy backend takes none.
    """
    if options:
        raise TypeError(f"The numpy backend's compile takes no options; received {sorted(options)}.")
    return module
