"""What the JAX ``ops`` do beyond the shared contract (rlmodule_core.testing.test_ops):
jit, PRNG keys as generators, and the stateful stream's refusal inside a trace."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rlmodule_jax import KeyStream, ops

X = np.array([[0.5, -1.5, 2.0], [3.0, 0.0, -0.25]], np.float32)


def _log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def test_float64_input_becomes_float32():
    assert ops.asarray(np.ones(2, np.float64)).dtype == jnp.float32
    assert ops.cast(ops.asarray(X), "int64").dtype == jax.dtypes.canonicalize_dtype(np.int64)


def test_stop_gradient_blocks_gradients():
    grad = jax.grad(lambda v: jnp.sum(v * ops.stop_gradient(v)))(jnp.ones(3))
    np.testing.assert_allclose(np.asarray(grad), np.ones(3))  # only the first factor


def test_ops_work_inside_jit():
    @jax.jit
    def f(x):
        return ops.log_softmax(x) + ops.one_hot(ops.argmax(x), 3) + ops.logsumexp(x, keepdims=True)

    lse = np.log(np.exp(X).sum(-1, keepdims=True))
    want = _log_softmax(X) + np.eye(3, dtype=np.float32)[X.argmax(-1)] + lse
    np.testing.assert_allclose(np.asarray(f(X)), want, rtol=1e-5, atol=1e-6)


def test_keys_are_functional_generators():
    key = jax.random.key(1)
    np.testing.assert_array_equal(np.asarray(ops.uniform(key, (3,))), np.asarray(ops.uniform(key, (3,))))
    legacy = jax.random.PRNGKey(1)
    assert ops.uniform(legacy, (2,)).shape == (2,)
    assert isinstance(ops.rng(), KeyStream)


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


def test_as_rng_names_keys_in_its_error():
    with pytest.raises(ValueError, match="PRNG key"):
        ops.as_rng(True)
    with pytest.raises(ValueError, match="PRNG key"):
        ops.as_rng("seed")
