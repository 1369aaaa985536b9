"""The TF ``ops`` namespace against the NumPy reference, eagerly and inside tf.function."""

from __future__ import annotations

import numpy as np
import pytest
import rlmodule_numpy.ops as nops
from rlmodule_tf import keras, ops, tf
from scipy import special

CONTRACT = (
    "asarray to_numpy cast shape reshape concatenate stack split squeeze expand_dims "
    "broadcast_to sum mean max min argmax logsumexp exp log log1p tanh sqrt square abs "
    "sigmoid softplus relu maximum minimum clip where softmax log_softmax take_along_axis "
    "one_hot stop_gradient zeros ones full zeros_like ones_like arange linspace rng as_rng "
    "uniform normal"
).split()


def same(got, want, **kw):
    got = ops.to_numpy(got)
    want = np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, **({"rtol": 1e-6, "atol": 1e-6} | kw))


def test_every_contract_function_exists():
    assert [name for name in CONTRACT if not callable(getattr(ops, name, None))] == []


def test_dtypes_follow_numpy_ops():
    for value in ([1.0, 2.0], 1.5, [1, 2], np.arange(3.0), np.arange(3, dtype=np.int32), True):
        assert ops.asarray(value).dtype.as_numpy_dtype == nops.asarray(value).dtype
    assert ops.zeros((2,)).dtype == tf.float32 and ops.full((2,), 3).dtype == tf.float32
    assert ops.linspace(0, 1, 5).dtype == tf.float32 and ops.arange(3).dtype == tf.int64
    assert ops.exp(np.array([1, 2])).dtype == tf.float32
    assert ops.mean(np.array([1, 2])).dtype == tf.float32
    assert ops.argmax(np.array([[1.0, 3.0]])).dtype == tf.int64
    assert ops.sum(np.array([True, True, False])).numpy() == 2


def test_asarray_keeps_tensors_and_converts_variables():
    x = tf.constant([1.0, 2.0])
    assert ops.asarray(x) is x
    assert ops.asarray(x, dtype="float32") is x
    assert ops.asarray(x, dtype="float64").dtype == tf.float64
    assert ops.cast(x, "float32") is x
    v = tf.Variable([1.0, 2.0])
    assert isinstance(ops.asarray(v), tf.Tensor)
    assert isinstance(ops.to_numpy(x), np.ndarray) and ops.shape(x) == (2,)
    assert ops.is_tensor(x) and ops.is_tensor(v) and not ops.is_tensor(np.zeros(2))
    kv = keras.Variable(np.ones((2, 3), np.float32))
    assert ops.is_tensor(kv) and ops.shape(kv) == (2, 3)
    same(ops.exp(kv), np.exp(np.ones((2, 3), np.float32)))


def test_split_semantics():
    x = np.arange(12).reshape(2, 6)
    for args, kwargs in [((2,), {}), (([1, 4],), {"axis": -1}), ((2,), {"axis": 0}), (([2, 2],), {})]:
        got, want = ops.split(x, *args, **kwargs), nops.split(x, *args, **kwargs)
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        ops.split(x, 4)


@pytest.mark.parametrize(
    "name, args",
    [
        ("squeeze", (np.zeros((2, 1, 3)), 1)),
        ("squeeze", (np.zeros((2, 1, 1)), (1, 2))),
        ("expand_dims", (np.zeros((2, 3)), -1)),
        ("expand_dims", (np.zeros((2, 3)), (0, -1))),
        ("reshape", (np.arange(6.0), (3, 2))),
        ("broadcast_to", (np.ones(3), (4, 3))),
    ],
)
def test_shaping_matches_numpy(name, args):
    same(getattr(ops, name)(*args), getattr(nops, name)(*args))


def test_concatenate_and_stack():
    a, b = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    same(ops.concatenate([a, b], axis=0), nops.concatenate([a, b], axis=0))
    same(ops.stack([a, b], axis=1), nops.stack([a, b], axis=1))


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, True), (-1, False), ((0, 1), False)])
def test_reductions_match_numpy(name, axis, keepdims):
    x = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], np.float32)
    same(getattr(ops, name)(x, axis=axis, keepdims=keepdims), getattr(nops, name)(x, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize(
    "name",
    ["exp", "log", "log1p", "tanh", "sqrt", "square", "abs", "sigmoid", "softplus", "relu", "softmax", "log_softmax"],
)
def test_elementwise_match_numpy(name):
    x = np.random.default_rng(0).uniform(0.1, 3.0, (3, 4)).astype(np.float32)
    if name in ("tanh", "abs", "sigmoid", "softplus", "relu", "square", "softmax", "log_softmax"):
        x = x - 1.5
    same(getattr(ops, name)(x), getattr(nops, name)(x), rtol=1e-5)


def test_binary_ops_and_python_scalars():
    x = np.array([-2.0, 0.5, 3.0], np.float32)
    same(ops.clip(x, -1.0, 1.0), nops.clip(x, -1.0, 1.0))
    same(ops.maximum(x, 1.0), nops.maximum(x, 1.0))
    same(ops.minimum(1.0, x), nops.minimum(1.0, x))
    same(ops.where(x > 0, x, 0.0), nops.where(x > 0, x, np.float32(0.0)))
    ints = np.array([1, 5, 9])
    same(ops.clip(ints, 2, 6), nops.clip(ints, 2, 6))


def test_logsumexp_and_log_softmax_are_stable():
    x = np.array([[1e4, 1e4], [-np.inf, -np.inf], [0.0, np.log(3.0)]], np.float32)
    out = ops.to_numpy(ops.logsumexp(x))
    np.testing.assert_allclose(out[0], 1e4 + np.log(2.0))
    assert out[1] == -np.inf
    np.testing.assert_allclose(out[2], np.log(4.0), rtol=1e-6)
    big = np.array([[1000.0, 0.0, -1000.0]], np.float32)
    np.testing.assert_allclose(ops.to_numpy(ops.log_softmax(big)), [[0.0, -1000.0, -2000.0]], rtol=1e-6)
    rnd = np.random.default_rng(1).normal(size=(5, 7)).astype(np.float32) * 10
    np.testing.assert_allclose(ops.to_numpy(ops.log_softmax(rnd, axis=0)), special.log_softmax(rnd, axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.to_numpy(ops.logsumexp(rnd, axis=0, keepdims=True)), special.logsumexp(rnd, axis=0, keepdims=True), rtol=1e-5)


def test_softplus_and_sigmoid_are_stable():
    x = np.array([-1000.0, -50.0, 0.0, 3.0, 50.0, 1000.0], np.float32)
    sp, sg = ops.to_numpy(ops.softplus(x)), ops.to_numpy(ops.sigmoid(x))
    assert sp[-1] == 1000.0 and sp[0] == 0.0 and np.all(np.isfinite(sp))
    np.testing.assert_allclose(sg, special.expit(x.astype(np.float64)), rtol=1e-6)


def test_take_along_axis_and_one_hot():
    x = np.array([[10.0, 11.0, 12.0], [20.0, 21.0, 22.0]], np.float32)
    for idx, axis in [(np.array([[2], [0]]), -1), (np.array([[1, 0, 1]]), 0), (np.array([[2, 0]]), 1)]:
        same(ops.take_along_axis(x, idx, axis), nops.take_along_axis(x, idx, axis))
    idx = np.array([[0, 2], [1, 5]])
    same(ops.one_hot(idx, 3), nops.one_hot(idx, 3))
    assert ops.one_hot(np.array([1]), 2, dtype="int64").dtype == tf.int64


def test_creation():
    same(ops.zeros((2, 3)), nops.zeros((2, 3)))
    same(ops.ones(3, "int64"), nops.ones(3, "int64"))
    same(ops.full((2,), 7, "int64"), nops.full((2,), 7, "int64"))
    same(ops.arange(4), nops.arange(4))
    same(ops.linspace(-1.0, 1.0, 5), nops.linspace(-1.0, 1.0, 5))
    x = np.ones((2, 2), np.float32)
    same(ops.zeros_like(x), nops.zeros_like(x))
    same(ops.ones_like(x), nops.ones_like(x))


def test_stop_gradient_blocks_gradients():
    x = tf.Variable([1.0, 2.0])
    with tf.GradientTape() as tape:
        y = ops.sum(ops.square(x)) + ops.sum(ops.stop_gradient(ops.square(x)))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [2.0, 4.0])


def test_ops_inside_tf_function_with_an_unknown_batch_axis():
    @tf.function(input_signature=[tf.TensorSpec((None, 6), tf.float32)], autograph=False)
    def f(x):
        b, n = ops.shape(x)
        assert n == 6 and isinstance(b, tf.Tensor)  # unknown until the graph runs
        parts = ops.split(ops.reshape(x, (b * 2, 3)), [1], axis=-1)
        return ops.concatenate([parts[1], parts[0]], axis=-1), ops.uniform(ops.as_rng(None), (b, 2))

    out, noise = f(tf.reshape(tf.range(12.0), (2, 6)))
    np.testing.assert_array_equal(out.numpy()[0], [1.0, 2.0, 0.0])
    assert noise.shape == (2, 2)


def test_as_rng():
    default = ops.as_rng(None)
    assert isinstance(default, tf.random.Generator) and ops.as_rng(None) is default
    g = ops.rng(3)
    assert isinstance(g, tf.random.Generator) and ops.as_rng(g) is g
    a, b, c = (ops.uniform(ops.as_rng(s), (5,)) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    np.testing.assert_array_equal(ops.uniform(np.int64(7), (5,)).numpy(), a.numpy())
    stream = ops.as_rng(7)  # one seed, successive draws differ
    assert not np.array_equal(ops.normal(stream, (3,)).numpy(), ops.normal(stream, (3,)).numpy())


@pytest.mark.parametrize("bad", [1.5, "0", True, np.random.default_rng(0), [1]])
def test_as_rng_rejects_other_values(bad):
    with pytest.raises(ValueError, match="Expected None, an int seed or a tf.random.Generator; received"):
        ops.as_rng(bad)


def test_seeded_draws_are_the_same_eagerly_and_compiled():
    eager = ops.normal(5, (4,))

    @tf.function(autograph=False)
    def draw(seed):
        return ops.normal(ops.as_rng(seed), (4,))

    np.testing.assert_array_equal(draw(tf.constant(5, tf.int64)).numpy(), eager.numpy())
    assert not np.array_equal(draw(tf.constant(6, tf.int64)).numpy(), eager.numpy())
    assert draw.experimental_get_tracing_count() == 1  # a new seed value does not retrace


def test_random_draws():
    g = ops.rng(0)
    u = ops.to_numpy(ops.uniform(g, (10000,), low=-2.0, high=3.0))
    assert u.dtype == np.float32 and u.min() >= -2.0 and u.max() < 3.0
    assert u.mean() == pytest.approx(0.5, abs=0.07)
    n = ops.to_numpy(ops.normal(g, (100, 200)))
    assert n.mean() == pytest.approx(0.0, abs=0.035) and n.std() == pytest.approx(1.0, abs=0.025)
    assert ops.normal(g, (2,), dtype="float64").dtype == tf.float64
    assert not np.array_equal(ops.normal(g, (3,)).numpy(), ops.normal(g, (3,)).numpy())
    np.testing.assert_array_equal(
        ops.uniform(ops.rng(11), (4,)).numpy(), ops.uniform(ops.rng(11), (4,)).numpy()
    )
