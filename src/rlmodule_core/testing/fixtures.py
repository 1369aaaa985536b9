"""Fixtures of the shipped suite: the backend under test and small spaces.

``conftest.py`` files import these names (the shipped suite's and the repository's
``tests/conftest.py``), so one definition serves both.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core.testing.selection import selected_backends

__all__ = [
    "backend", "cartpole_spaces", "framework", "ops", "pendulum_spaces",
    "pytest_collection_modifyitems", "pytest_configure", "trains",
]


@pytest.fixture(params=selected_backends())
def framework(request: pytest.FixtureRequest) -> str:
    """The canonical name of the backend under test (one parameter per selected backend)."""
    return request.param


@pytest.fixture
def backend(framework: str) -> Any:
    """The ``Backend`` object under test."""
    return rlm.get_backend(framework)


@pytest.fixture
def ops(backend: Any) -> ModuleType:
    """The ``ops`` namespace under test."""
    return backend.ops


@pytest.fixture
def cartpole_spaces() -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    return gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Discrete(2)


@pytest.fixture
def pendulum_spaces() -> tuple[gym.spaces.Box, gym.spaces.Box]:
    return gym.spaces.Box(-np.inf, np.inf, (3,), np.float32), gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


def trains(framework: str) -> bool:
    """Whether a backend computes gradients (it overrides ``Backend.make_optimizer``)."""
    from rlmodule_core.backend.base import Backend

    return type(rlm.get_backend(framework)).make_optimizer is not Backend.make_optimizer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "trains: the test trains; it does not apply to backends without gradients"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselects ``@pytest.mark.trains`` tests for backends that cannot train (NumPy).

    Deselected, not skipped: a skip reads as "could not check", while these tests do not
    apply to such a backend, and its refusal to train is asserted by its own test
    (``test_a_backend_without_gradients_refuses_to_train``).
    """
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        framework = callspec.params.get("framework") if callspec is not None else None
        if framework is not None and item.get_closest_marker("trains") and not trains(framework):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
