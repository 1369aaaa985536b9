"""Which backends a test session covers (set by each nox session)."""

from __future__ import annotations

import os

from rlmodule_core.backend import registry


def selected_backends() -> list[str]:
    """Backends named by RLMODULE_TEST_BACKENDS (comma-separated), else NumPy."""
    raw = os.environ.get("RLMODULE_TEST_BACKENDS", "numpy")
    return [registry.canonical_name(name) for name in raw.split(",") if name.strip()]
