"""The ``ops`` contract on the backend under test, against NumPy closed forms.

Inputs enter through ``ops.asarray`` and results leave through ``ops.to_numpy``, so these
tests run unchanged on any backend. Integer results are int64, or the backend's widest
integer when its framework defaults to 32 bits (JAX without x64); the same for float64.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rlmodule_core.backend.contract import OPS_NAMES, check_backend
from rlmodule_core.testing.reference import log_softmax as _np_log_softmax
from rlmodule_core.testing.reference import logsumexp as _np_logsumexp
from rlmodule_core.testing.reference import softmax as _np_softmax

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4, 5)).astype(np.float32) * 3
POS = np.abs(X) + 0.1


@pytest.fixture
def widest(ops):
    """The dtypes this backend gives for int64 and float64 requests."""
    return {
        np.dtype(np.int64): np.asarray(ops.to_numpy(ops.zeros((1,), "int64"))).dtype,
        np.dtype(np.float64): np.asarray(ops.to_numpy(ops.zeros((1,), "float64"))).dtype,
    }


@pytest.fixture
def same(ops, widest):
    """``same(got, want)``: a backend result equals the NumPy reference in dtype, shape, values."""

    def check(got, want, atol=1e-6, rtol=1e-5, dtype=None):
        got = np.asarray(ops.to_numpy(got))
        want = np.asarray(want, dtype=dtype)
        expected = widest.get(want.dtype, want.dtype)
        assert got.dtype == expected, (got.dtype, expected)
        assert got.shape == want.shape, (got.shape, want.shape)
        np.testing.assert_allclose(got, want, atol=atol, rtol=rtol)

    return check


def dtype_of(ops, x) -> np.dtype:
    return np.asarray(ops.to_numpy(x)).dtype


def test_every_contract_function_exists(backend, ops):
    assert len(OPS_NAMES) == 47
    assert [name for name in OPS_NAMES if not callable(getattr(ops, name, None))] == []
    assert check_backend(backend) == []


def test_float32_and_int64_defaults(ops, widest):
    int64, f32 = widest[np.dtype(np.int64)], np.dtype(np.float32)
    assert dtype_of(ops, ops.asarray([1.0, 2.0])) == f32
    assert dtype_of(ops, ops.asarray(1.5)) == f32
    assert dtype_of(ops, ops.asarray([1, 2])) == int64
    assert dtype_of(ops, ops.asarray(np.arange(3.0), dtype="float32")) == f32
    assert dtype_of(ops, ops.asarray(np.arange(3.0), dtype="float64")) == widest[np.dtype(np.float64)]
    assert dtype_of(ops, ops.zeros((2,))) == f32
    assert dtype_of(ops, ops.full((2,), 3)) == f32
    assert dtype_of(ops, ops.linspace(0, 1, 5)) == f32
    assert dtype_of(ops, ops.arange(3)) == int64
    assert dtype_of(ops, ops.uniform(ops.rng(0), (3,))) == f32
    assert dtype_of(ops, ops.normal(ops.rng(0), 3)) == f32
    assert dtype_of(ops, ops.exp(ops.asarray(np.array([1, 2])))) == f32
    assert dtype_of(ops, ops.mean(ops.asarray(np.array([1, 2], np.int32)))) == f32
    assert dtype_of(ops, ops.argmax(ops.asarray(np.array([[1.0, 3.0]])))) == int64
    assert ops.to_numpy(ops.sum(ops.asarray(np.array([True, True, False])))) == 2


def test_asarray_and_cast_keep_a_tensor_of_that_dtype(ops, widest):
    x = ops.asarray(np.arange(4, dtype=np.float32))
    assert ops.asarray(x) is x
    assert ops.asarray(x, dtype="float32") is x
    assert ops.cast(x, "float32") is x
    assert dtype_of(ops, ops.cast(x, "int64")) == widest[np.dtype(np.int64)]
    assert isinstance(ops.to_numpy(x), np.ndarray)
    assert ops.shape(x) == (4,)
    assert ops.shape(ops.zeros((2, 3))) == (2, 3)
    assert tuple(ops.shape(np.zeros((2, 3)))) == (2, 3)


def test_asarray_of_awkward_numpy_arrays(ops):
    frozen = np.arange(4, dtype=np.float32)
    frozen.flags.writeable = False
    reversed_view = np.arange(4, dtype=np.int64)[::-1]
    big_endian = np.arange(4, dtype=">f4")
    for array in (frozen, reversed_view, big_endian):
        np.testing.assert_array_equal(ops.to_numpy(ops.asarray(array)), array)


def test_split_semantics(ops, same):
    x = np.arange(12).reshape(2, 6)
    t = ops.asarray(x)
    halves = ops.split(t, 2)  # default axis is the last
    assert isinstance(halves, list)
    same(halves[0], [[0, 1, 2], [6, 7, 8]], dtype=np.int64)
    parts = ops.split(t, [1, 4], axis=-1)  # split indices, not sizes
    assert [tuple(ops.shape(p)) for p in parts] == [(2, 1), (2, 3), (2, 2)]
    same(parts[1], [[1, 2, 3], [7, 8, 9]], dtype=np.int64)
    same(ops.split(t, 2, axis=0)[1], [[6, 7, 8, 9, 10, 11]], dtype=np.int64)
    for args, kwargs in [((2,), {}), (([1, 4],), {"axis": -1}), ((2,), {"axis": 0}), (([],), {}), (([2, 2],), {})]:
        got, want = ops.split(t, *args, **kwargs), np.split(x, *args, axis=kwargs.get("axis", -1))
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
    with pytest.raises(Exception):  # noqa: B017 - the framework's own error type
        ops.split(t, 4)  # 6 is not divisible into 4 equal sections


def test_shaping_matches_numpy(ops, same):
    x = np.zeros((2, 1, 3), np.float32)
    t = ops.asarray(x)
    same(ops.squeeze(t, 1), np.squeeze(x, 1))
    same(ops.squeeze(ops.zeros((1, 2, 1)), (0, 2)), np.zeros(2, np.float32))
    same(ops.squeeze(ops.zeros((2, 1, 1)), (1, 2)), np.zeros(2, np.float32))
    for axis in (-1, 0, (0, 2), (-1, -2), (1, -1), (0, -1)):
        same(ops.expand_dims(t, axis), np.expand_dims(x, axis))
    same(ops.reshape(t, (3, 2)), np.reshape(x, (3, 2)))
    same(ops.reshape(t, [6]), np.reshape(x, [6]))
    same(ops.reshape(t, 6), np.reshape(x, 6))
    same(ops.concatenate([t, t], axis=-1), np.concatenate([x, x], axis=-1))
    a, b = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    same(ops.concatenate([ops.asarray(a), ops.asarray(b)], axis=0), np.concatenate([a, b], axis=0))
    same(ops.stack([t, t]), np.stack([x, x]))
    same(ops.stack([ops.asarray(a), ops.asarray(b)], axis=1), np.stack([a, b], axis=1))
    same(ops.broadcast_to(ops.ones(3), (4, 3)), np.ones((4, 3), np.float32))


def test_squeeze_of_a_wider_axis_raises(ops):
    with pytest.raises(Exception):  # noqa: B017 - the framework's own error type
        ops.to_numpy(ops.squeeze(ops.zeros((2, 1, 3)), 0))


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(ops, same, name, axis, keepdims):
    same(getattr(ops, name)(ops.asarray(X), axis=axis, keepdims=keepdims),
         getattr(np, name)(X, axis=axis, keepdims=keepdims))


def test_small_reductions_and_argmax(ops, same):
    x = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], np.float32)
    t = ops.asarray(x)
    same(ops.sum(t, axis=-1), [9.0, 12.0], dtype=np.float32)
    assert float(ops.to_numpy(ops.mean(t))) == pytest.approx(3.5)
    assert tuple(ops.shape(ops.max(t, axis=0, keepdims=True))) == (1, 3)
    same(ops.min(t, axis=1), [1.0, 2.0], dtype=np.float32)
    same(ops.argmax(t), np.array([1, 2], np.int64))
    ints = np.array([[1, 5, 3], [4, 2, 6]], np.int64)
    same(ops.sum(ops.asarray(ints), axis=-1), ints.sum(-1))
    same(ops.mean(ops.asarray(ints)), np.float32(ints.mean()))
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)
    same(ops.argmax(ops.asarray(ties)), np.array([1, 0], np.int64))  # the first maximum
    same(ops.argmax(ops.asarray(X), axis=0), np.argmax(X, axis=0))


@pytest.mark.parametrize("axis", [-1, 0, (1, 2), None])
def test_logsumexp_matches_numpy(ops, same, axis):
    for keepdims in (False, True):
        want = _np_logsumexp(X, axis=axis, keepdims=keepdims).astype(np.float32)
        same(ops.logsumexp(ops.asarray(X), axis=axis, keepdims=keepdims), want)


def test_logsumexp_is_stable(ops):
    x = np.array([[1e4, 1e4], [-np.inf, -np.inf], [0.0, np.log(3.0)]], np.float32)
    out = np.asarray(ops.to_numpy(ops.logsumexp(ops.asarray(x))))
    np.testing.assert_allclose(out[0], 1e4 + np.log(2.0), rtol=1e-6)
    assert out[1] == -np.inf  # an all -inf row gives -inf, not NaN
    np.testing.assert_allclose(out[2], np.log(4.0), rtol=1e-6)
    assert tuple(ops.shape(ops.logsumexp(ops.asarray(x[:1]), keepdims=True))) == (1, 1)


def test_log_softmax_and_softmax_are_stable(ops, same):
    big = np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, 1e4]], np.float32)
    out = np.asarray(ops.to_numpy(ops.log_softmax(ops.asarray(big))))
    probs = np.asarray(ops.to_numpy(ops.softmax(ops.asarray(big))))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], [0.0, -1000.0, -2000.0], rtol=1e-6)
    np.testing.assert_allclose(out[1], np.log([1 / 3] * 3), rtol=1e-6)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    masked = np.array([[0.5, -np.inf, 1.0]], np.float32)  # an action mask
    same(ops.log_softmax(ops.asarray(masked)), _np_log_softmax(masked))
    same(ops.softmax(ops.asarray(masked)), _np_softmax(masked))
    rnd = (np.random.default_rng(1).normal(size=(5, 7)) * 10).astype(np.float32)
    same(ops.log_softmax(ops.asarray(rnd), axis=0), _np_log_softmax(rnd, axis=0), atol=1e-5)
    same(ops.softmax(ops.asarray(rnd)), _np_softmax(rnd))
    same(ops.softmax(ops.asarray(X), axis=0), _np_softmax(X, axis=0))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_of_an_all_masked_row_is_nan(ops, name):
    logits = np.array([[1e4, 0.0, -1e4], [-np.inf, 0.5, 0.25], [-np.inf, -np.inf, -np.inf]], np.float32)
    with np.errstate(invalid="ignore"):  # NumPy warns about the 0/0 it is asked for
        got = np.asarray(ops.to_numpy(getattr(ops, name)(ops.asarray(logits))))
    want = (_np_softmax if name == "softmax" else _np_log_softmax)(logits[:2])
    np.testing.assert_allclose(got[:2], want, rtol=1e-5, atol=1e-6)
    assert np.isnan(got[2]).all()  # undefined: no action is allowed


ELEMENTWISE = {
    "exp": (np.exp, X),
    "log": (np.log, POS),
    "log1p": (np.log1p, POS),
    "tanh": (np.tanh, X),
    "sqrt": (np.sqrt, POS),
    "square": (np.square, X),
    "abs": (np.abs, X),
    "sigmoid": (lambda v: 1 / (1 + np.exp(-v.astype(np.float64))), X),
    "softplus": (lambda v: np.log1p(np.exp(v.astype(np.float64))), X),
    "relu": (lambda v: np.maximum(v, 0), X),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_matches_numpy(ops, same, name):
    fn, data = ELEMENTWISE[name]
    same(getattr(ops, name)(ops.asarray(data)), fn(data).astype(np.float32))


def test_softplus_and_sigmoid_are_stable(ops):
    x = np.array([-1000.0, -50.0, 0.0, 3.0, 50.0, 1000.0], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings
        sp = np.asarray(ops.to_numpy(ops.softplus(ops.asarray(x))))
        sg = np.asarray(ops.to_numpy(ops.sigmoid(ops.asarray(x))))
    assert sp.dtype == np.float32 and sg.dtype == np.float32 and np.all(np.isfinite(sp))
    np.testing.assert_allclose(sp[[2, 3]], np.log1p(np.exp([0.0, 3.0])), rtol=1e-6)
    assert sp[-1] == 1000.0 and sp[-2] == 50.0  # log(1 + e^x) = x for large x, not inf
    assert sp[0] == 0.0 and 0.0 <= sp[1] < 1e-20
    np.testing.assert_allclose(sg, 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-6)
    assert sg[1] > 0.0  # sigmoid(-50) ~ 2e-22 keeps its relative precision


def test_binary_and_selection_ops(ops, same):
    x = np.array([-2.0, 0.5, 3.0], np.float32)
    t = ops.asarray(x)
    same(ops.relu(t), [0.0, 0.5, 3.0], dtype=np.float32)
    same(ops.maximum(t, 1.0), np.maximum(x, np.float32(1.0)))
    same(ops.minimum(t, 1), np.minimum(x, np.float32(1.0)))  # a Python int takes the tensor's dtype
    same(ops.minimum(1.0, t), np.minimum(np.float32(1.0), x))
    same(ops.maximum(t, ops.zeros(3)), np.maximum(x, 0.0).astype(np.float32))
    y = ops.asarray(x[::-1].copy())
    same(ops.maximum(t, y), np.maximum(x, x[::-1]))
    same(ops.minimum(t, y), np.minimum(x, x[::-1]))
    same(ops.clip(t, -1.0, 1.0), np.clip(x, np.float32(-1.0), np.float32(1.0)))
    same(ops.clip(t, ops.asarray(np.array([-3.0, 0.0, 0.0], np.float32)), 2.0), np.array([-2.0, 0.5, 2.0], np.float32))
    ints = np.array([1, 5, 9])
    same(ops.clip(ops.asarray(ints), 2, 6), np.clip(ints, 2, 6))
    same(ops.where(t > 0, t, ops.zeros_like(t)), np.array([0.0, 0.5, 3.0], np.float32))
    same(ops.where(t > 0, t, 0.0), np.array([0.0, 0.5, 3.0], np.float32))
    same(ops.where(t > 0, -1.0, t), np.array([-2.0, -1.0, -1.0], np.float32))
    same(ops.where(t > 0, t, y), np.where(x > 0, x, x[::-1]))
    np.testing.assert_allclose(ops.to_numpy(ops.log1p(ops.asarray(np.array([1e-10], np.float32)))), [1e-10], rtol=1e-6)
    same(ops.sqrt(ops.square(t)), np.abs(x))
    same(ops.stop_gradient(t), x)


def test_take_along_axis_and_one_hot(ops, same):
    x = np.array([[10.0, 11.0, 12.0], [20.0, 21.0, 22.0]], np.float32)
    for idx, axis in [(np.array([[2], [0]]), -1), (np.array([[1, 0, 1]]), 0), (np.array([[2, 0]]), 1)]:
        same(ops.take_along_axis(ops.asarray(x), ops.asarray(idx), axis), np.take_along_axis(x, idx, axis))
    idx = np.array([[0, 2], [1, 5], [-1, 1]])
    want = np.zeros((3, 2, 3), np.float32)
    for (i, j), k in np.ndenumerate(idx):
        if 0 <= k < 3:
            want[i, j, k] = 1.0  # out of range: zeros
    same(ops.one_hot(ops.asarray(idx), 3), want)
    same(ops.one_hot(ops.asarray(idx), 3, dtype="int64"), want.astype(np.int64))


def test_creation_matches_numpy(ops, same):
    same(ops.zeros((2, 3)), np.zeros((2, 3), np.float32))
    same(ops.ones(4, dtype="int64"), np.ones(4, np.int64))
    same(ops.ones(3, "int64"), np.ones(3, np.int64))
    same(ops.full((2,), 3.5), np.full((2,), 3.5, np.float32))
    same(ops.full((2,), 7, "int64"), np.full((2,), 7, np.int64))
    same(ops.zeros_like(ops.asarray(np.ones(2, np.int32))), np.zeros(2, np.int32))
    same(ops.ones_like(ops.zeros(3)), np.ones(3, np.float32))
    same(ops.zeros_like(ops.ones((2, 2))), np.zeros((2, 2), np.float32))
    same(ops.arange(5), np.arange(5, dtype=np.int64))
    same(ops.linspace(-1, 1, 7), np.linspace(-1, 1, 7, dtype=np.float32))


# ---- random ---------------------------------------------------------------------------


def test_as_rng_seeds_reproduce_and_streams_continue(ops):
    a, b, c = (np.asarray(ops.to_numpy(ops.uniform(ops.as_rng(s), (5,)))) for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(ops.to_numpy(ops.uniform(ops.as_rng(np.int64(7)), (5,))), a)
    np.testing.assert_array_equal(ops.to_numpy(ops.normal(5, (3,))), ops.to_numpy(ops.normal(5, (3,))))
    g = ops.rng(3)
    assert ops.as_rng(g) is g
    assert ops.as_rng(None) is ops.as_rng(None)  # one process-wide stream
    first = np.asarray(ops.to_numpy(ops.uniform(g, (4,))))
    np.testing.assert_array_equal(first, ops.to_numpy(ops.uniform(ops.rng(3), (4,))))
    assert not np.array_equal(first, ops.to_numpy(ops.uniform(g, (4,))))  # the stream advanced
    stream = ops.as_rng(7)
    assert not np.array_equal(ops.to_numpy(ops.normal(stream, (3,))), ops.to_numpy(ops.normal(stream, (3,))))
    draws = [np.asarray(ops.to_numpy(ops.uniform(None, (4,)))) for _ in range(2)]
    assert not np.array_equal(*draws)
    assert not np.array_equal(ops.to_numpy(ops.normal(ops.rng(), (4,))), ops.to_numpy(ops.normal(ops.rng(), (4,))))


def _default_draws(ops) -> np.ndarray:
    return np.asarray(ops.to_numpy(ops.uniform(ops.as_rng(None), (6,))))


def test_backend_seed_fixes_the_default_stream(backend, ops):
    backend.seed(11)
    first, second = _default_draws(ops), _default_draws(ops)
    backend.seed(np.uint32(11))  # what SeedSequence.generate_state gives
    np.testing.assert_array_equal(_default_draws(ops), first)
    backend.seed(12)
    assert not np.array_equal(_default_draws(ops), first)
    assert not np.array_equal(first, second)  # the stream advances between draws


@pytest.mark.parametrize("bad", [-1, 2**63, 1.5, True, "3", None])
def test_backend_seed_rejects_other_values_and_changes_nothing(backend, ops, bad):
    backend.seed(5)
    expected = _default_draws(ops)
    backend.seed(5)
    with pytest.raises(ValueError, match=r"Expected seed to be an int in \[0, 2\*\*63\); received"):
        backend.seed(bad)
    np.testing.assert_array_equal(_default_draws(ops), expected)


@pytest.mark.parametrize("bad", [1.5, "0", True, [1]])
def test_as_rng_rejects_other_values(ops, bad):
    with pytest.raises(ValueError, match="Expected None, an int seed"):
        ops.as_rng(bad)


def test_random_draws(ops, widest):
    g = ops.rng(0)
    u = np.asarray(ops.to_numpy(ops.uniform(g, (10000,), low=-2.0, high=3.0)))
    assert u.dtype == np.float32 and u.min() >= -2.0 and u.max() < 3.0
    assert u.mean() == pytest.approx(0.5, abs=0.07)  # standard error 0.014
    n = np.asarray(ops.to_numpy(ops.normal(g, (100, 200))))
    assert n.shape == (100, 200)
    # 20k draws: the standard errors are 0.007 (mean) and 0.005 (std); bounds are ~5 of them
    assert n.mean() == pytest.approx(0.0, abs=0.035)
    assert n.std() == pytest.approx(1.0, abs=0.025)
    assert dtype_of(ops, ops.normal(g, (2,), dtype="float64")) == widest[np.dtype(np.float64)]
    assert not np.array_equal(ops.to_numpy(ops.normal(g, (3,))), ops.to_numpy(ops.normal(g, (3,))))
