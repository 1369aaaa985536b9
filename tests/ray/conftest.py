"""A small local Ray instance per test module (2 CPUs, no dashboard)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support"


@pytest.fixture(scope="module")
def ray_instance():
    # These tests run in the nox session that installs Ray: its absence fails, never skips.
    try:
        import ray
    except ImportError as err:
        raise RuntimeError('the ray tests need Ray: pip install -e ".[torch,ray,test]"') from err
    # Workers do not inherit pytest's sys.path: tests/support holds the envs they import.
    # The driver's own PYTHONPATH follows, so workers import the same sources as the driver.
    path = os.pathsep.join(p for p in (str(SUPPORT), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()
