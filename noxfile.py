"""Test sessions: one per backend, each installing only its own extra.

`nox` runs lint, core, torch, tf, jax, portability and ray; `nox -s bench` runs the
benchmarks and `nox -s bench-rllib` compares with Ray RLlib (neither is part of the
default run; see docs/performance.md).

Environment variables:
    RLMODULE_TORCH_SPEC  the torch requirement (default "torch==2.13.0", a CPU wheel;
                         a bare "torch" may pull a multi-GB CUDA build).
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "core", "torch", "tf", "jax", "portability", "ray"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
TORCH_SPEC = os.environ.get("RLMODULE_TORCH_SPEC", "torch==2.13.0")


def _install(session: nox.Session, extras: str) -> None:
    if "torch" in extras or "all" in extras:
        # Install the pinned torch first so the extra's range is already satisfied.
        session.install(TORCH_SPEC)
    session.install("-e", f".[{extras}]")


def _pytest(session: nox.Session, backends: str, *paths: str) -> None:
    session.run(
        "pytest", *paths, *session.posargs, env={"RLMODULE_TEST_BACKENDS": backends}
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the sources and tests."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """No framework installed: the core, the NumPy backend and the examples."""
    _install(session, "multiagent,test")
    _pytest(session, "numpy", "tests/core", "tests/conformance")
    session.run("python", "examples/01_quickstart.py")


@nox.session(python=PYTHON)
def torch(session: nox.Session) -> None:
    """The conformance suite and torch-specific tests on PyTorch."""
    _install(session, "torch,multiagent,test")
    _pytest(session, "torch", "tests/conformance", "tests/torch")
    session.run("python", "examples/04_multi_agent.py")


@nox.session(python=PYTHON)
def tf(session: nox.Session) -> None:
    """The conformance suite and TF-specific tests on TensorFlow / Keras 3."""
    _install(session, "tf,multiagent,test")
    _pytest(session, "tf", "tests/conformance", "tests/tf")


@nox.session(python=PYTHON)
def jax(session: nox.Session) -> None:
    """The conformance suite and JAX-specific tests on JAX / Flax NNX."""
    _install(session, "jax,multiagent,test")
    _pytest(session, "jax", "tests/conformance", "tests/jax")


@nox.session(python=PYTHON)
def portability(session: nox.Session) -> None:
    """All backends together: checkpoints exchanged between every pair."""
    _install(session, "all,test")
    _pytest(session, "numpy,torch,tf,jax", "tests/portability")
    session.run("python", "examples/02_deploy_without_framework.py")
    session.run("python", "examples/03_one_module_every_framework.py")


@nox.session(python=PYTHON)
def ray(session: nox.Session) -> None:
    """Distributed env runners on a local Ray instance (2 CPUs), with torch learners."""
    _install(session, "torch,ray,test")
    _pytest(session, "torch", "tests/ray")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks (not in the default run): writes benchmarks/results/<date>-<commit>.md/.json.

    Arguments go to benchmarks/run.py, e.g. `nox -s bench -- --quick --only forward`.
    """
    _install(session, "all,test")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(name="bench-rllib", python=PYTHON)
def bench_rllib(session: nox.Session) -> None:
    """Side by side with RLlib's default PPO torch module (not in the default run).

    A venv of its own: ray[rllib] pins its own gymnasium, which the other sessions
    should not get. The pinned torch is installed with it so that pip keeps it.
    """
    _install(session, "torch,test")
    session.install("ray[rllib]", TORCH_SPEC)
    session.run("python", "benchmarks/run.py", "--only", "rllib", *session.posargs)
