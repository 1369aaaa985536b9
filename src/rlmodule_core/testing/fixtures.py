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

__all__ = ["backend", "cartpole_spaces", "framework", "ops", "pendulum_spaces"]


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
