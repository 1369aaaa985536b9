"""Action distributions on TF tensors: tf.function, generators, gradients.

Values on every backend: rlmodule_core.testing.test_distributions."""

from __future__ import annotations

import numpy as np
import pytest
from rlmodule_tf import ops, tf

from rlmodule_core.distributions import Categorical, DiagGaussian, SquashedGaussian

LOGITS = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], np.float32))


def test_the_default_stream_moves_on():
    dist = Categorical.from_logits(tf.constant(np.tile(LOGITS, (500, 1))))
    assert dist.sample(rng=3).dtype == tf.int64
    assert not np.array_equal(dist.sample().numpy(), dist.sample().numpy())


def test_sampling_inside_tf_function_draws_fresh_noise_from_a_generator():
    generator = ops.rng(1)

    @tf.function(autograph=False)
    def act(logits, rng):
        return Categorical.from_logits(logits).sample(rng=rng)

    logits = tf.zeros((64, 4))
    first, second = act(logits, generator).numpy(), act(logits, generator).numpy()
    assert not np.array_equal(first, second)
    replay = ops.rng(1)
    np.testing.assert_array_equal(act(logits, replay).numpy(), first)


def test_gaussian_gradients_through_logp_and_rsample():
    mean = tf.Variable([[0.5, -1.0]])
    log_std = tf.Variable([[0.1, -0.3]])
    with tf.GradientTape(persistent=True) as tape:
        dist = DiagGaussian.from_logits(tf.concat([mean, log_std], axis=-1))
        logp = tf.reduce_sum(dist.logp(tf.constant([[0.0, 0.0]])))
        sample = tf.reduce_sum(dist.rsample(rng=0))
        frozen = tf.reduce_sum(dist.sample(rng=0))
    for target in (logp, sample):
        grads = tape.gradient(target, [mean, log_std])
        assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    np.testing.assert_allclose(tape.gradient(sample, mean).numpy(), [[1.0, 1.0]])
    assert tape.gradient(frozen, mean) is None  # sample() stops gradients


def test_squashed_gaussian_rsample_in_bounds_with_gradients():
    cls = SquashedGaussian.with_bounds(-2.0, 2.0)
    params = tf.Variable(np.array([[0.3, 0.0], [3.0, 1.0]], np.float32))
    with tf.GradientTape() as tape:
        actions, logp = cls.from_logits(params).rsample(rng=5, return_logp=True)
        loss = tf.reduce_sum(actions) + tf.reduce_sum(logp)
    assert np.all(np.abs(actions.numpy()) <= 2.0)
    grad = tape.gradient(loss, params)
    assert grad is not None and np.all(np.isfinite(grad.numpy()))


@pytest.mark.parametrize("seed", [0, 1])
def test_same_seed_same_actions_eagerly_and_compiled(seed):
    logits = tf.constant(np.tile(LOGITS, (32, 1)))
    eager = Categorical.from_logits(logits).sample(rng=seed).numpy()
    compiled = tf.function(lambda x, s: Categorical.from_logits(x).sample(rng=s), autograph=False)
    np.testing.assert_array_equal(compiled(logits, tf.constant(seed, tf.int64)).numpy(), eager)
