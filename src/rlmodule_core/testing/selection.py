"""Which backends the shipped suite runs on: ``RLMODULE_TEST_BACKENDS``."""

from __future__ import annotations

import os

from rlmodule_core.backend import registry

__all__ = ["ENV_VAR", "selected_backends"]

#: The environment variable that names the backends under test (comma-separated).
ENV_VAR = "RLMODULE_TEST_BACKENDS"


def selected_backends() -> list[str]:
    """The canonical names of the backends named by ``RLMODULE_TEST_BACKENDS`` (default numpy).

    Every name is loaded once here, so that a typo or a missing framework fails the whole
    run up front instead of skipping tests.

    Example:
        >>> selected_backends()   # RLMODULE_TEST_BACKENDS=torch,jax
        ['torch', 'jax']

    Raises:
        ValueError: a name is no registered backend, or the variable names none.
        ImportError: a named backend's framework is not installed.
    """
    raw = os.environ.get(ENV_VAR, "numpy")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        raise ValueError(
            f"{ENV_VAR}={raw!r} names no backend. Expected a comma-separated list such as "
            f"'numpy' or 'torch,jax'; unset it to test the NumPy backend."
        )
    chosen: list[str] = []
    for name in names:
        try:
            canonical = registry.canonical_name(name)
        except ValueError as err:
            raise ValueError(f"{ENV_VAR} names {name!r}: {err}") from None
        try:
            registry.get_backend(canonical)
        except ImportError as err:
            raise ImportError(
                f"{ENV_VAR} names {name!r}, which cannot be loaded: {err}. Install it, or "
                f"remove it from {ENV_VAR}."
            ) from err
        if canonical not in chosen:
            chosen.append(canonical)
    return chosen
