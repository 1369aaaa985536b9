"""What the NumPy ``ops`` do beyond the shared contract (rlmodule_core.testing.test_ops):
arrays pass through untouched, NumPy generators, and ops.py needs nothing but NumPy."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from rlmodule_numpy import ops


def test_ops_imports_only_numpy_and_stdlib():
    path = pathlib.Path(__file__).parents[2] / "src" / "backends" / "numpy" / "ops.py"
    imports = [
        line.split()[1]
        for line in path.read_text().splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert set(imports) <= {"numpy", "__future__", "collections.abc", "typing"}


def test_arrays_pass_through_without_copy():
    x = np.arange(4.0)  # float64 stays float64: only Python values get the float32 default
    assert ops.asarray(x) is x
    assert ops.asarray(x, dtype="float64") is x
    assert ops.asarray(x, dtype="float32").dtype == np.float32
    assert ops.stop_gradient(x) is x


def test_generators_are_numpy_generators():
    default = ops.as_rng(None)
    assert isinstance(default, np.random.Generator)
    assert ops.as_rng(np.int64(7)).random() == ops.as_rng(7).random()
    with pytest.raises(ValueError, match=r"Expected None, an int seed or a numpy.random.Generator; received"):
        ops.as_rng(np.random.RandomState(0))


def test_numpy_layers_call_forward_unless_they_define_call():
    # Layer calls go straight to forward (no forwarding frame); an own __call__ still wins.
    from rlmodule_numpy import nn as nnp

    class Plus(nnp.Layer):
        def forward(self, x):
            return x + 1

    class Own(Plus):
        def __call__(self, x):
            return "own"

    class Below(Own):
        def forward(self, x):
            return x + 3

    assert Plus()(1) == 2 and Own()(1) == "own" and Below()(1) == "own" and Below().forward(1) == 4
