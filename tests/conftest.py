"""Shared fixtures: which backends a session tests, and small spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from rlm_testing import selected_backends

import rlmodule_core as rlm


@pytest.fixture(params=selected_backends())
def framework(request) -> str:
    """The canonical name of the backend under test (parametrized)."""
    return request.param


@pytest.fixture
def backend(framework):
    return rlm.get_backend(framework)


@pytest.fixture
def cartpole_spaces():
    return gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Discrete(2)


@pytest.fixture
def pendulum_spaces():
    return gym.spaces.Box(-np.inf, np.inf, (3,), np.float32), gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
