"""A small local Ray instance per test module (2 CPUs, no dashboard)."""

from __future__ import annotations

import os
import time
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


@pytest.fixture
def kill(ray_instance):
    """``kill(actor)``: ``ray.kill`` and wait until the actor is gone (the kill itself is asynchronous)."""

    def kill_and_wait(actor) -> None:
        ray_instance.kill(actor)
        for _ in range(600):
            try:
                ray_instance.get(actor.ping.remote())
            except ray_instance.exceptions.RayActorError:
                return
            time.sleep(0.1)
        raise AssertionError("the killed actor still answers after 60 s")

    return kill_and_wait
