"""The JAX ops against the NumPy reference ops (same names, same semantics)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rlmodule_jax import KeyStream, ops
from rlmodule_numpy import ops as np_ops

X = np.array([[0.5, -1.5, 2.0], [3.0, 0.0, -0.25]], np.float32)
LOGITS = np.array([[1e4, 0.0, -1e4], [-np.inf, 0.5, 0.25], [-np.inf, -np.inf, -np.inf]], np.float32)

UNARY = ["exp", "tanh", "square", "abs", "sigmoid", "softplus", "relu"]


def close(a, b, **kwargs):
    np.testing.assert_allclose(np.asarray(ops.to_numpy(a)), np.asarray(b), rtol=1e-5, atol=1e-6, **kwargs)


@pytest.mark.parametrize("name", UNARY)
def test_elementwise_match_numpy(name):
    close(getattr(ops, name)(X), getattr(np_ops, name)(X))


@pytest.mark.parametrize("name", ["log", "log1p", "sqrt"])
def test_positive_domain_functions(name):
    x = np.abs(X) + 0.1
    close(getattr(ops, name)(x), getattr(np_ops, name)(x))


def test_large_inputs_do_not_overflow():
    big = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], np.float32)
    close(ops.softplus(big), np_ops.softplus(big))
    close(ops.sigmoid(big), np_ops.sigmoid(big))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_with_extreme_and_infinite_logits(name):
    got = np.asarray(getattr(ops, name)(LOGITS))
    with np.errstate(invalid="ignore"):
        want = getattr(np_ops, name)(LOGITS)
    np.testing.assert_allclose(got[:2], want[:2], rtol=1e-5, atol=1e-6)
    assert np.isnan(got[2]).all() and np.isnan(want[2]).all()  # an all -inf row is undefined


@pytest.mark.parametrize("axis,keepdims", [(-1, False), (0, True), (None, False), ((0, 1), False)])
def test_reductions(axis, keepdims):
    for name in ("sum", "mean", "max", "min"):
        close(getattr(ops, name)(X, axis=axis, keepdims=keepdims), getattr(np_ops, name)(X, axis=axis, keepdims=keepdims))
    if axis != (0, 1):
        close(ops.logsumexp(X, axis=axis, keepdims=keepdims), np_ops.logsumexp(X, axis=axis, keepdims=keepdims))


def test_logsumexp_of_infinite_rows():
    got = np.asarray(ops.logsumexp(LOGITS, axis=-1))
    want = np_ops.logsumexp(LOGITS, axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[2] == -np.inf


def test_mean_of_integers_is_float32_and_argmax_is_integer():
    assert ops.mean(np.array([1, 2], np.int32)).dtype == jnp.float32
    idx = ops.argmax(X, axis=-1)
    assert jnp.issubdtype(idx.dtype, jnp.integer)
    np.testing.assert_array_equal(np.asarray(idx), np_ops.argmax(X, axis=-1))


def test_shaping():
    close(ops.reshape(X, (3, 2)), np_ops.reshape(X, (3, 2)))
    close(ops.concatenate([X, X], axis=0), np_ops.concatenate([X, X], axis=0))
    close(ops.stack([X, X], axis=1), np_ops.stack([X, X], axis=1))
    for sections in (3, [1, 2]):
        got, want = ops.split(X, sections, axis=-1), np_ops.split(X, sections, axis=-1)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            close(g, w)
    close(ops.squeeze(X[:, :1], -1), np_ops.squeeze(X[:, :1], -1))
    close(ops.expand_dims(X, (0, 2)), np_ops.expand_dims(X, (0, 2)))
    close(ops.broadcast_to(X[:1], (4, 3)), np_ops.broadcast_to(X[:1], (4, 3)))
    assert ops.shape(X) == (2, 3)


def test_elementwise_binary_and_where():
    y = X[::-1]
    close(ops.maximum(X, y), np_ops.maximum(X, y))
    close(ops.minimum(X, y), np_ops.minimum(X, y))
    close(ops.clip(X, -1.0, 1.0), np_ops.clip(X, -1.0, 1.0))
    close(ops.where(X > 0, X, y), np_ops.where(X > 0, X, y))


def test_indexing():
    idx = np.array([[2], [0]])
    close(ops.take_along_axis(X, idx, axis=1), np_ops.take_along_axis(X, idx, axis=1))
    labels = np.array([0, 2, 3, -1])
    close(ops.one_hot(labels, 3), np_ops.one_hot(labels, 3))  # out of range -> zeros
    assert ops.one_hot(labels, 3, dtype="int32").dtype == jnp.int32


def test_creation_and_conversion():
    assert ops.asarray([1.0, 2.0]).dtype == jnp.float32
    assert ops.asarray(np.ones(2, np.float64)).dtype == jnp.float32
    x = ops.asarray(X)
    assert ops.asarray(x) is x and ops.asarray(x, "float32") is x
    assert ops.cast(x, "int64").dtype == jax.dtypes.canonicalize_dtype(np.int64)
    close(ops.zeros((2, 3)), np_ops.zeros((2, 3)))
    close(ops.ones(2), np_ops.ones(2))
    close(ops.full((2,), 7.0), np_ops.full((2,), 7.0))
    close(ops.zeros_like(X), np_ops.zeros_like(X))
    close(ops.ones_like(X), np_ops.ones_like(X))
    close(ops.arange(4), np_ops.arange(4))
    close(ops.linspace(0.0, 1.0, 5), np_ops.linspace(0.0, 1.0, 5))
    assert isinstance(ops.to_numpy(x), np.ndarray)


def test_stop_gradient_blocks_gradients():
    grad = jax.grad(lambda v: jnp.sum(v * ops.stop_gradient(v)))(jnp.ones(3))
    np.testing.assert_allclose(np.asarray(grad), np.ones(3))  # only the first factor


def test_ops_work_inside_jit():
    @jax.jit
    def f(x):
        return ops.log_softmax(x) + ops.one_hot(ops.argmax(x), 3) + ops.logsumexp(x, keepdims=True)

    close(f(X), np_ops.log_softmax(X) + np_ops.one_hot(np_ops.argmax(X), 3) + np_ops.logsumexp(X, keepdims=True))


# ---- random -----------------------------------------------------------------------------------


def test_seeded_generators_reproduce_and_advance():
    a, b = ops.rng(3), ops.rng(3)
    first = np.asarray(ops.uniform(a, (4,)))
    np.testing.assert_array_equal(first, np.asarray(ops.uniform(b, (4,))))
    assert not np.array_equal(first, np.asarray(ops.uniform(a, (4,))))  # the stream advanced


def test_int_seeds_and_keys_are_functional():
    np.testing.assert_array_equal(np.asarray(ops.normal(5, (3,))), np.asarray(ops.normal(5, (3,))))
    key = jax.random.key(1)
    np.testing.assert_array_equal(np.asarray(ops.uniform(key, (3,))), np.asarray(ops.uniform(key, (3,))))
    legacy = jax.random.PRNGKey(1)
    assert ops.uniform(legacy, (2,)).shape == (2,)


def test_default_generator_continues_one_stream():
    assert ops.as_rng(None) is ops.as_rng(None)
    assert not np.array_equal(np.asarray(ops.uniform(None, (4,))), np.asarray(ops.uniform(None, (4,))))


def test_uniform_bounds_and_dtype():
    u = np.asarray(ops.uniform(ops.rng(0), (1000,), low=-2.0, high=3.0))
    assert u.dtype == np.float32 and u.min() >= -2.0 and u.max() < 3.0


def test_keys_work_inside_jit():
    @jax.jit
    def draw(key):
        stream = ops.as_rng(key)
        return ops.uniform(stream, (2,)), ops.uniform(stream, (2,))

    a1, b1 = draw(jax.random.key(0))
    a2, _ = draw(jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))
    assert not np.array_equal(np.asarray(a1), np.asarray(b1))


def test_stateful_generator_inside_jit_raises():
    stream = ops.rng(0)
    with pytest.raises(RuntimeError, match="explicit key"):
        jax.jit(lambda x: x + ops.uniform(stream, (2,)))(jnp.zeros(2))
    ops.uniform(stream, (2,))  # the stream was not corrupted by the failed trace


def test_as_rng_rejects_other_values():
    with pytest.raises(ValueError, match="PRNG key"):
        ops.as_rng(True)
    with pytest.raises(ValueError, match="PRNG key"):
        ops.as_rng("seed")
    assert isinstance(ops.rng(), KeyStream)
