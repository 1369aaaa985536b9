"""Test sessions: one per backend, each installing only its own extra.

`nox` runs lint, core, torch, tf, jax, portability, ray, onnx and docs; `nox -s bench` runs the
benchmarks and `nox -s bench-rllib` compares with Ray RLlib (neither is part of the
default run; see docs/performance.md).

Environment variables:
    RLMODULE_TORCH_SPEC  the torch requirement (default "torch==2.13.0", a CPU wheel;
                         a bare "torch" may pull a multi-GB CUDA build).
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "core", "torch", "tf", "jax", "portability", "ray", "onnx", "docs"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
TORCH_SPEC = os.environ.get("RLMODULE_TORCH_SPEC", "torch==2.13.0")
# The documentation's code blocks marked for a framework run in that framework's session.
DOCS_CODE = "tests/docs/test_docs_code.py"


def _install(session: nox.Session, extras: str) -> None:
    if "torch" in extras or "all" in extras:
        # Install the pinned torch first so the extra's range is already satisfied.
        session.install(TORCH_SPEC)
    session.install("-e", f".[{extras}]")


def _pytest(session: nox.Session, backends: str, *paths: str) -> None:
    session.run(
        "pytest", *paths, *session.posargs, env={"RLMODULE_TEST_BACKENDS": backends}
    )


# The conformance suite ships inside the package (docs/writing-a-backend.md); with
# --pyargs pytest finds it by module name, and the folders are given as paths.
SHIPPED_SUITE = ("--pyargs", "rlmodule_core.testing")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the sources and tests; the import rules (pyproject.toml) with import-linter."""
    session.install("ruff", "import-linter")
    # import-linter reads the installed packages' sources; no framework is needed.
    session.install("--no-deps", "-e", ".")
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """No framework installed: the shipped suite on NumPy, the core tests and the examples."""
    _install(session, "multiagent,test")
    _pytest(session, "numpy", *SHIPPED_SUITE, "tests/core", "tests/multi_agent")
    session.run("python", "examples/01_quickstart.py")


@nox.session(python=PYTHON)
def torch(session: nox.Session) -> None:
    """The shipped conformance suite and torch-specific tests on PyTorch."""
    _install(session, "torch,multiagent,test")
    _pytest(session, "torch", *SHIPPED_SUITE, "tests/torch", "tests/multi_agent", DOCS_CODE)
    session.run("python", "examples/06_dqn_target_networks.py")
    session.run("python", "examples/04_multi_agent.py")


@nox.session(python=PYTHON)
def tf(session: nox.Session) -> None:
    """The shipped conformance suite and TF-specific tests on TensorFlow / Keras 3."""
    _install(session, "tf,multiagent,test")
    _pytest(session, "tf", *SHIPPED_SUITE, "tests/tf", "tests/multi_agent", DOCS_CODE)


@nox.session(python=PYTHON)
def jax(session: nox.Session) -> None:
    """The shipped conformance suite and JAX-specific tests on JAX / Flax NNX."""
    _install(session, "jax,multiagent,test")
    _pytest(session, "jax", *SHIPPED_SUITE, "tests/jax", "tests/multi_agent", DOCS_CODE)


@nox.session(python=PYTHON)
def portability(session: nox.Session) -> None:
    """All backends together: checkpoints exchanged between every pair."""
    _install(session, "all,onnx,test")
    _pytest(session, "numpy,torch,tf,jax", "tests/portability")
    session.run("python", "examples/02_deploy_without_framework.py")
    session.run("python", "examples/03_one_module_every_framework.py")
    session.run("python", "examples/05_onnx_export.py")


@nox.session(python=PYTHON)
def onnx(session: nox.Session) -> None:
    """ONNX export with no framework installed (onnx + onnxruntime), checked against NumPy.

    Checkpoints written on torch, TF and JAX are exported in the portability session.
    """
    _install(session, "onnx,test")
    _pytest(session, "numpy", "tests/onnx")


@nox.session(python=PYTHON)
def ray(session: nox.Session) -> None:
    """Distributed env runners on a local Ray instance (2 CPUs), with torch learners."""
    _install(session, "torch,ray,test")
    _pytest(session, "torch", "tests/ray")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site in strict mode, its framework-free code blocks and the docstring check.

    No framework is installed: the API pages are read from the sources. `nox -s docs -- serve`
    serves a live preview instead of building.
    """
    _install(session, "docs,onnx,test")
    if session.posargs and session.posargs[0] == "serve":
        session.run("mkdocs", "serve", *session.posargs[1:])
        return
    session.run("pytest", "tests/docs", env={"RLMODULE_TEST_BACKENDS": "numpy"})
    session.run("mkdocs", "build", "--strict")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks (not in the default run): writes benchmarks/results/<date>-<commit>.md/.json.

    Arguments go to benchmarks/run.py, e.g. `nox -s bench -- --quick --only forward`.
    """
    _install(session, "all,test")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(name="bench-rllib", python=PYTHON)
def bench_rllib(session: nox.Session) -> None:
    """Side by side with RLlib: its default PPO torch module, and multi-agent CartPole time-to-solve (not in the default run).

    A venv of its own: ray[rllib] pins its own gymnasium, which the other sessions
    should not get. The pinned torch is installed with it so that pip keeps it.
    """
    _install(session, "torch,test")
    session.install("ray[rllib]", TORCH_SPEC)
    session.run("python", "benchmarks/run.py", "--only", "rllib", *session.posargs)
    # Time-to-solve 2-agent MultiAgentCartPole: ours against RLlib's multi-agent CartPole example.
    session.run("python", "benchmarks/rllib_multi_agent.py")
