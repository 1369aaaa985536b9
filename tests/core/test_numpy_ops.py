"""The NumPy ``ops`` namespace: the reference implementation of the backend contract."""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import warnings

import numpy as np
import pytest
from scipy import special

CONTRACT = (
    "asarray to_numpy cast shape reshape concatenate stack split squeeze expand_dims "
    "broadcast_to sum mean max min argmax logsumexp exp log log1p tanh sqrt square abs "
    "sigmoid softplus relu maximum minimum clip where softmax log_softmax take_along_axis "
    "one_hot stop_gradient zeros ones full zeros_like ones_like arange linspace rng as_rng "
    "uniform normal"
).split()


@pytest.fixture(scope="module")
def ops():
    try:
        return importlib.import_module("rlmodule_numpy.ops")
    except ImportError:
        # The package may not be installed yet; ops.py imports only numpy.
        path = pathlib.Path(__file__).parents[2] / "src" / "backends" / "numpy" / "ops.py"
        spec = importlib.util.spec_from_file_location("_rlmodule_numpy_ops", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def test_every_contract_function_exists(ops):
    missing = [name for name in CONTRACT if not callable(getattr(ops, name, None))]
    assert missing == []


def test_ops_imports_only_numpy_and_stdlib():
    path = pathlib.Path(__file__).parents[2] / "src" / "backends" / "numpy" / "ops.py"
    imports = [
        line.split()[1]
        for line in path.read_text().splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert set(imports) <= {"numpy", "__future__", "collections.abc", "typing"}


def test_float32_by_default(ops):
    assert ops.asarray([1.0, 2.0]).dtype == np.float32
    assert ops.asarray(1.5).dtype == np.float32
    assert ops.asarray([1, 2]).dtype == np.int64
    assert ops.zeros((2,)).dtype == np.float32
    assert ops.full((2,), 3).dtype == np.float32
    assert ops.linspace(0, 1, 5).dtype == np.float32
    assert ops.arange(3).dtype == np.int64
    assert ops.uniform(ops.rng(0), (3,)).dtype == np.float32
    assert ops.normal(ops.rng(0), 3).dtype == np.float32
    assert ops.exp(np.array([1, 2])).dtype == np.float32


def test_asarray_keeps_arrays_without_copy(ops):
    x = np.arange(4.0)  # float64 stays float64: only Python values get the float32 default
    assert ops.asarray(x) is x
    assert ops.asarray(x, dtype="float64") is x
    assert ops.asarray(x, dtype="float32").dtype == np.float32
    assert ops.cast(x, "int64").dtype == np.int64
    assert isinstance(ops.to_numpy(x), np.ndarray)
    assert ops.shape(np.zeros((2, 3))) == (2, 3)


def test_split_semantics(ops):
    x = np.arange(12).reshape(2, 6)
    halves = ops.split(x, 2)  # default axis is the last
    assert isinstance(halves, list)
    np.testing.assert_array_equal(halves[0], [[0, 1, 2], [6, 7, 8]])
    parts = ops.split(x, [1, 4], axis=-1)  # split indices, not sizes
    assert [p.shape for p in parts] == [(2, 1), (2, 3), (2, 2)]
    np.testing.assert_array_equal(parts[1], [[1, 2, 3], [7, 8, 9]])
    rows = ops.split(x, 2, axis=0)
    np.testing.assert_array_equal(rows[1], [[6, 7, 8, 9, 10, 11]])
    with pytest.raises(ValueError):
        ops.split(x, 4)  # 6 is not divisible into 4 equal sections


def test_shaping(ops):
    x = np.zeros((2, 1, 3))
    assert ops.squeeze(x, 1).shape == (2, 3)
    assert ops.expand_dims(x, -1).shape == (2, 1, 3, 1)
    assert ops.reshape(x, (3, 2)).shape == (3, 2)
    assert ops.concatenate([x, x], axis=-1).shape == (2, 1, 6)
    assert ops.stack([x, x]).shape == (2, 2, 1, 3)
    assert ops.broadcast_to(np.ones(3), (4, 3)).shape == (4, 3)


def test_reductions(ops):
    x = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    np.testing.assert_array_equal(ops.sum(x, axis=-1), [9.0, 12.0])
    assert ops.mean(x) == pytest.approx(3.5)
    assert ops.max(x, axis=0, keepdims=True).shape == (1, 3)
    np.testing.assert_array_equal(ops.min(x, axis=1), [1.0, 2.0])
    am = ops.argmax(x)
    np.testing.assert_array_equal(am, [1, 2])
    assert am.dtype == np.int64


def test_one_hot(ops):
    out = ops.one_hot(np.array([[0, 2], [1, 5]]), 3)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(out[1], [[0, 1, 0], [0, 0, 0]])  # out of range: zeros
    assert ops.one_hot(np.array([1]), 2, dtype="int64").dtype == np.int64


def test_take_along_axis(ops):
    x = np.array([[10.0, 11.0, 12.0], [20.0, 21.0, 22.0]])
    idx = np.array([[2], [0]])
    np.testing.assert_array_equal(ops.take_along_axis(x, idx, axis=-1), [[12.0], [20.0]])
    idx0 = np.array([[1, 0, 1]])
    np.testing.assert_array_equal(ops.take_along_axis(x, idx0, axis=0), [[20.0, 11.0, 22.0]])


def test_log_softmax_is_stable_for_large_logits(ops):
    x = np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, 1e4]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ops.log_softmax(x)
        probs = ops.softmax(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], [0.0, -1000.0, -2000.0], rtol=1e-6)
    np.testing.assert_allclose(out[1], np.log([1 / 3] * 3), rtol=1e-6)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    rnd = np.random.default_rng(0).normal(size=(5, 7)) * 10
    np.testing.assert_allclose(ops.log_softmax(rnd, axis=0), special.log_softmax(rnd, axis=0))
    np.testing.assert_allclose(ops.softmax(rnd), special.softmax(rnd, axis=-1))


def test_logsumexp_is_stable(ops):
    x = np.array([[1e4, 1e4], [-np.inf, -np.inf], [0.0, np.log(3.0)]])
    out = ops.logsumexp(x)
    np.testing.assert_allclose(out[0], 1e4 + np.log(2.0))
    assert out[1] == -np.inf  # an all -inf row gives -inf, not NaN
    np.testing.assert_allclose(out[2], np.log(4.0))
    assert ops.logsumexp(x[:1], keepdims=True).shape == (1, 1)
    rnd = np.random.default_rng(1).normal(size=(3, 4))
    np.testing.assert_allclose(ops.logsumexp(rnd, axis=0), special.logsumexp(rnd, axis=0))


def test_softplus_and_sigmoid_are_stable(ops):
    x = np.array([-1000.0, -50.0, 0.0, 3.0, 50.0, 1000.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings
        sp = ops.softplus(x)
        sg = ops.sigmoid(x)
    assert sp.dtype == np.float32 and sg.dtype == np.float32
    np.testing.assert_allclose(sp[[2, 3]], np.log1p(np.exp([0.0, 3.0])), rtol=1e-6)
    assert sp[-1] == 1000.0 and sp[-2] == 50.0  # log(1 + e^x) = x for large x, not inf
    assert sp[0] == 0.0 and 0.0 < sp[1] < 1e-20
    np.testing.assert_allclose(sg, special.expit(x.astype(np.float64)), rtol=1e-6)
    assert sg[1] > 0.0  # sigmoid(-50) ~ 2e-22 keeps its relative precision


def test_elementwise(ops):
    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_array_equal(ops.relu(x), [0.0, 0.5, 3.0])
    np.testing.assert_array_equal(ops.clip(x, -1.0, 1.0), [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(ops.where(x > 0, x, ops.zeros_like(x)), [0.0, 0.5, 3.0])
    np.testing.assert_array_equal(ops.maximum(x, 1.0), [1.0, 1.0, 3.0])
    np.testing.assert_array_equal(ops.minimum(x, 1.0), [-2.0, 0.5, 1.0])
    np.testing.assert_allclose(ops.log1p(np.array([1e-10])), [1e-10])
    np.testing.assert_allclose(ops.sqrt(ops.square(x)), ops.abs(x))
    assert ops.stop_gradient(x) is x


def test_as_rng(ops):
    default = ops.as_rng(None)
    assert isinstance(default, np.random.Generator)
    assert ops.as_rng(None) is default  # one process-wide stream
    g = ops.rng(3)
    assert ops.as_rng(g) is g
    a = ops.uniform(ops.as_rng(7), (5,))
    b = ops.uniform(ops.as_rng(7), (5,))
    c = ops.uniform(ops.as_rng(8), (5,))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert ops.as_rng(np.int64(7)).random() == ops.as_rng(7).random()


@pytest.mark.parametrize("bad", [1.5, "0", True, np.random.RandomState(0), [1]])
def test_as_rng_rejects_other_values(ops, bad):
    with pytest.raises(
        ValueError, match=r"Expected None, an int seed or a numpy.random.Generator; received"
    ):
        ops.as_rng(bad)


def test_random_draws(ops):
    g = ops.rng(0)
    u = ops.uniform(g, (10000,), low=-2.0, high=3.0)
    assert u.min() >= -2.0 and u.max() < 3.0
    assert u.mean() == pytest.approx(0.5, abs=0.07)  # standard error 0.014
    n = ops.normal(g, (100, 200))
    assert n.shape == (100, 200)
    # 20k draws: the standard errors are 0.007 (mean) and 0.005 (std); bounds are ~5 of them
    assert n.mean() == pytest.approx(0.0, abs=0.035)
    assert n.std() == pytest.approx(1.0, abs=0.025)
    assert ops.normal(g, (2,), dtype="float64").dtype == np.float64
    # draws from one generator continue its stream
    assert not np.array_equal(ops.normal(g, (3,)), ops.normal(g, (3,)))


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
