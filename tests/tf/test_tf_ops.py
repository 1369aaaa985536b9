"""What the TF ``ops`` do beyond the shared contract (rlmodule_core.testing.test_ops):
NumPy dtypes kept, variables, tf.function graphs with unknown sizes, tf.random generators."""

from __future__ import annotations

import numpy as np
import pytest
from rlmodule_tf import keras, ops, tf


def test_numpy_dtypes_are_kept():
    assert ops.asarray(np.arange(3.0)).dtype == tf.float64
    assert ops.asarray(np.arange(3, dtype=np.int32)).dtype == tf.int32
    assert ops.asarray(True).dtype == tf.bool


def test_asarray_converts_variables_and_keras_variables_are_tensors():
    x = tf.constant([1.0, 2.0])
    assert ops.asarray(x, dtype="float64").dtype == tf.float64
    v = tf.Variable([1.0, 2.0])
    assert isinstance(ops.asarray(v), tf.Tensor)
    assert ops.is_tensor(x) and ops.is_tensor(v) and not ops.is_tensor(np.zeros(2))
    kv = keras.Variable(np.ones((2, 3), np.float32))
    assert ops.is_tensor(kv) and ops.shape(kv) == (2, 3)
    np.testing.assert_allclose(ops.to_numpy(ops.exp(kv)), np.exp(np.ones((2, 3), np.float32)), rtol=1e-6)


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


def test_generators_are_tf_random_generators():
    default = ops.as_rng(None)
    assert isinstance(default, tf.random.Generator)
    assert isinstance(ops.rng(3), tf.random.Generator)
    with pytest.raises(ValueError, match="Expected None, an int seed or a tf.random.Generator; received"):
        ops.as_rng(np.random.default_rng(0))


def test_seeded_draws_are_the_same_eagerly_and_compiled():
    eager = ops.normal(5, (4,))

    @tf.function(autograph=False)
    def draw(seed):
        return ops.normal(ops.as_rng(seed), (4,))

    np.testing.assert_array_equal(draw(tf.constant(5, tf.int64)).numpy(), eager.numpy())
    assert not np.array_equal(draw(tf.constant(6, tf.int64)).numpy(), eager.numpy())
    assert draw.experimental_get_tracing_count() == 1  # a new seed value does not retrace
