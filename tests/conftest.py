"""Shared fixtures, the same as the shipped suite's (rlmodule_core.testing.fixtures)."""

from rlmodule_core.testing.fixtures import (  # noqa: F401 - fixtures are found by name
    backend,
    cartpole_spaces,
    framework,
    ops,
    pendulum_spaces,
    pytest_collection_modifyitems,
    pytest_configure,
)
