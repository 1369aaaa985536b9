"""Nested batches reach ``_forward`` with their container types on every backend (DESIGN §13).

Dicts, tuples, lists, namedtuples and mixes of them, NumPy leaves (float64 included)
and the backend's own tensors, through all three forward passes, compiled by default.
"""

from __future__ import annotations

import sys
from collections import namedtuple
from typing import Any

import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.testing.helpers import OBS, build, numpy_tree

Pair = namedtuple("Pair", ["position", "velocity"])


def describe(x: Any) -> str:
    """The container structure of ``x`` as a string (leaves are ``leaf``).

    Dict keys are listed sorted: a compiled JAX forward receives them in sorted order
    (``jax.jit`` flattens dicts by sorted key), the other backends in insertion order.
    """
    if isinstance(x, dict):
        return "dict{" + ",".join(f"{k}:{describe(x[k])}" for k in sorted(x)) + "}"
    if isinstance(x, tuple) and hasattr(type(x), "_fields"):
        return f"{type(x).__name__}(" + ",".join(describe(v) for v in x) + ")"
    if isinstance(x, tuple):
        return "tuple(" + ",".join(describe(v) for v in x) + ")"
    if isinstance(x, list):
        return "list[" + ",".join(describe(v) for v in x) + "]"
    return "leaf"


class StructureEcho(rlm.RLModule):
    """Returns the structure it received (a static string) and the sum of every leaf."""

    def setup(self):
        self.scale = self.nn.Bias(1, initializer="ones")

    def _forward(self, batch, **kwargs):
        ops = self.ops
        leaves = _leaves(batch[Columns.OBS])
        total = ops.sum(ops.cast(leaves[0], "float32"), axis=-1)
        for leaf in leaves[1:]:
            total = total + ops.sum(ops.cast(leaf, "float32"), axis=-1)
        return {"structure": describe(batch[Columns.OBS]), "total": self.scale(total[:, None])}


def _leaves(x: Any) -> list:
    if isinstance(x, dict):
        return [leaf for v in x.values() for leaf in _leaves(v)]
    if isinstance(x, list | tuple):
        return [leaf for v in x for leaf in _leaves(v)]
    return [x]


def _arrays(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (3, 4)).astype(np.float32), rng.uniform(-1, 1, (3, 2))  # float64


def _obs_cases() -> dict[str, Any]:
    x, y = _arrays(0)
    return {
        "dict": {"a": x, "b": y},
        "tuple": (x, y),
        "list": [x, y],
        "namedtuple": Pair(x, y),
        "nested": {"p": Pair(x, [y, (x,)]), "t": (y,), "l": [Pair(y, x)]},
    }


def _expected_total(obs: Any) -> np.ndarray:
    return sum(np.asarray(leaf, np.float64).sum(axis=-1) for leaf in _leaves(obs))[:, None] + 1.0


@pytest.mark.parametrize("case", sorted(_obs_cases()))
@pytest.mark.parametrize("method", ["forward_inference", "forward_exploration", "forward_train"])
def test_nested_batch_keeps_its_container_types(framework, case, method):
    module = build(StructureEcho, framework, obs=OBS)
    obs = _obs_cases()[case]
    for _ in range(2):  # the second call runs the compiled forward where there is one
        out = getattr(module, method)({Columns.OBS: obs})
        assert out["structure"] == describe(obs)
        total = numpy_tree(out["total"], framework)
        assert total.dtype == np.float32
        np.testing.assert_allclose(total, _expected_total(obs), rtol=1e-5, atol=1e-5)


def test_backend_tensor_leaves_in_a_namedtuple(framework, backend):
    module = build(StructureEcho, framework, obs=OBS)
    x, y = _arrays(1)
    obs = Pair(backend.ops.asarray(x), [backend.ops.asarray(y.astype(np.float32))])
    out = module.forward_inference({Columns.OBS: obs})
    assert out["structure"] == "Pair(leaf,list[leaf])"
    np.testing.assert_allclose(numpy_tree(out["total"], framework), _expected_total(obs_np := Pair(x, [y])),
                               rtol=1e-5, atol=1e-5)
    assert describe(obs_np) == out["structure"]


def test_convert_batch_returns_a_batch_of_tensors_itself(framework, backend):
    module = build(StructureEcho, framework, obs=OBS)
    # The contract's module.py (where the backend's RLModule base lives) has convert_batch.
    home = sys.modules[backend.RLModule.__module__]
    assert hasattr(home, "convert_batch"), f"{home.__name__} must define convert_batch(batch, module)"
    convert_batch = home.convert_batch
    x, y = _arrays(2)
    converted = convert_batch({Columns.OBS: {"a": x, "p": Pair(y, [x])}}, module)
    # Once converted, a batch needs nothing more: the same objects come back, at every level.
    assert convert_batch(converted, module) is converted
    flat = {Columns.OBS: converted[Columns.OBS]["a"]}
    assert convert_batch(flat, module) is flat
    assert type(converted[Columns.OBS]["p"]) is Pair and type(converted[Columns.OBS]["p"].velocity) is list
    assert numpy_tree(converted[Columns.OBS]["p"].position, framework).dtype == np.float32
