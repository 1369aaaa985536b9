"""Backend registry: names, aliases, errors, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rlmodule_core as rlm
from rlmodule_core.backend import registry


@pytest.mark.parametrize(
    "alias, name",
    [("pytorch", "torch"), ("TensorFlow", "tf"), ("keras", "tf"), ("tf2", "tf"), ("flax", "jax"), ("np", "numpy")],
)
def test_aliases(alias, name):
    assert registry.canonical_name(alias) == name


def test_unknown_backend_lists_known_ones():
    with pytest.raises(ValueError, match=r"Unknown framework 'mxnet'.*'torch' \(aliases 'pytorch'\)"):
        rlm.get_backend("mxnet")


def test_numpy_backend_is_available_and_cached():
    assert "numpy" in rlm.available_backends()
    assert rlm.get_backend("numpy") is rlm.get_backend("np")


def test_uninstalled_backend_names_the_extra(monkeypatch):
    rlm.register_backend(
        "fakefw", "rlmodule_fakefw_missing:backend", requires=("fakefw_framework",), extra="fakefw"
    )
    with pytest.raises(ImportError, match=r'pip install "rlmodule-core\[fakefw\]"'):
        rlm.get_backend("fakefw")
    assert "fakefw" not in rlm.available_backends()


def test_register_backend_and_alias_conflicts():
    numpy_backend = rlm.get_backend("numpy")
    rlm.register_backend("mynp", numpy_backend, aliases=("mnp",))
    assert rlm.get_backend("MNP") is numpy_backend
    with pytest.raises(ValueError, match="already registered"):
        rlm.register_backend("other", numpy_backend, aliases=("mnp",))
    rlm.register_backend("mynp", lambda: numpy_backend, override=True)
    assert rlm.get_backend("mynp") is numpy_backend


def test_env_var_selects_the_default(monkeypatch):
    monkeypatch.setenv("RLMODULE_FRAMEWORK", "np")
    assert registry.resolve_framework(None) == "numpy"
    monkeypatch.delenv("RLMODULE_FRAMEWORK")
    assert registry.resolve_framework(None) == "torch"


def test_import_pulls_in_no_framework():
    # Nor Ray: the training code imports rlmodule_core.distributed only for --num-env-runners >= 1.
    code = (
        "import sys, rlmodule_core, rlmodule_core.apis, rlmodule_core.spec;"
        "import rlmodule_core.distributions, rlmodule_core.train.algorithms, rlmodule_core.train.sampling;"
        "import rlmodule_core.train.loop, rlmodule_core.cli;"
        "bad=[m for m in ('torch','tensorflow','jax','flax','keras','ray') if m in sys.modules];"
        "print(bad); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
