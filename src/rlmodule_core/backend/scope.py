"""The build scope: which backend and which random generator layers built right now use.

A module's ``setup()`` runs inside ``build_scope``, so neutral layers and blocks
constructed there bind to the module's backend and draw their initial weights from the
module's seeded generator (``rlmodule_core.nn.initializers``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BuildScope", "build_scope", "current_scope", "initialization_skipped", "skip_initialization",
]


@dataclass
class BuildScope:
    """What layers constructed right now belong to: a backend name and a generator."""

    backend: str | None
    rng: np.random.Generator


_scope: contextvars.ContextVar[BuildScope | None] = contextvars.ContextVar(
    "rlmodule_build_scope", default=None
)


@contextlib.contextmanager
def build_scope(backend: str | None, seed: int | None) -> Iterator[BuildScope]:
    """Makes layers built inside draw from ``np.random.default_rng(seed)``.

    ``seed=None`` draws fresh entropy, so two unseeded builds differ.
    """
    scope = BuildScope(backend, np.random.default_rng(seed))
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


_skip: contextvars.ContextVar[bool] = contextvars.ContextVar("rlmodule_skip_init", default=False)


@contextlib.contextmanager
def skip_initialization() -> Iterator[None]:
    """Layers built inside get zero parameters instead of random draws.

    Only for builds whose every parameter is overwritten right after (``from_checkpoint``
    restores strictly): drawing and orthogonalizing millions of random numbers costs
    more than loading them.
    """
    token = _skip.set(True)
    try:
        yield
    finally:
        _skip.reset(token)


def current_scope() -> BuildScope | None:
    """The active build scope, or None outside any module's ``setup()``."""
    return _scope.get()


def initialization_skipped() -> bool:
    """Whether layers built now may skip drawing random initial parameters."""
    return _skip.get()
