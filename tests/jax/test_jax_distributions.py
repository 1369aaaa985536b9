"""The neutral action distributions on JAX arrays: keys, reproducibility, gradients."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from rlmodule_jax import ops

from rlmodule_core.distributions import Categorical, DiagGaussian, get_action_dist_cls

LOGITS = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32))
GAUSS = jnp.asarray(np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32))


def test_distributions_find_the_jax_ops_from_the_tensor():
    assert Categorical.from_logits(LOGITS).ops is ops


def test_sampling_with_keys_is_reproducible_and_streams_advance():
    dist = Categorical.from_logits(LOGITS)
    key = jax.random.key(0)
    a, b = dist.sample(rng=key), dist.sample(rng=key)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert a.shape == (6,) and int(a.min()) >= 0 and int(a.max()) < 4
    stream = ops.rng(1)
    draws = [np.asarray(dist.sample(sample_shape=(50,), rng=stream)) for _ in range(2)]
    assert not np.array_equal(draws[0], draws[1])
    np.testing.assert_array_equal(
        np.asarray(DiagGaussian.from_logits(GAUSS).sample(rng=7)), np.asarray(DiagGaussian.from_logits(GAUSS).sample(rng=7))
    )


def test_sampling_inside_jit_with_a_key():
    @jax.jit
    def act(logits, key):
        return Categorical.from_logits(logits).sample(rng=key)

    np.testing.assert_array_equal(np.asarray(act(LOGITS, jax.random.key(2))), np.asarray(act(LOGITS, jax.random.key(2))))


def test_categorical_frequencies_follow_the_probabilities():
    logits = jnp.log(jnp.asarray([[0.7, 0.2, 0.1]]))
    samples = np.asarray(Categorical.from_logits(logits).sample(sample_shape=(4000,), rng=0)).ravel()
    np.testing.assert_allclose(np.bincount(samples, minlength=3) / samples.size, [0.7, 0.2, 0.1], atol=0.03)


def test_gradients_flow_through_logp_and_entropy():
    actions = jnp.asarray([0, 1, 2, 3, 0, 1])

    def loss(logits):
        dist = Categorical.from_logits(logits)
        return -jnp.mean(dist.logp(actions)) - 0.01 * jnp.mean(dist.entropy())

    grad = np.asarray(jax.grad(loss)(LOGITS))
    assert np.all(np.isfinite(grad)) and np.all(np.abs(grad).sum(-1) > 0)


def test_rsample_of_gaussians_is_differentiable():
    def loss(inputs):
        return jnp.sum(DiagGaussian.from_logits(inputs).rsample(rng=jax.random.key(0)))

    grad = np.asarray(jax.grad(loss)(GAUSS))
    assert np.all(grad[:, :2] == 1.0)  # d sample / d mean
    assert np.all(grad[:, 2:] != 0.0)  # through the log-std

    squashed = get_action_dist_cls(gym.spaces.Box(-2.0, 2.0, (2,), np.float32))
    grad = np.asarray(jax.grad(lambda x: jnp.sum(squashed.from_logits(x).rsample(rng=1)))(GAUSS))
    assert np.all(np.isfinite(grad)) and np.any(grad != 0.0)


def test_kl_and_logp_match_the_numpy_backend():
    from rlmodule_numpy import ops as np_ops

    ours, ref = Categorical.from_logits(LOGITS), Categorical.from_logits(np.asarray(LOGITS), ops=np_ops)
    other, ref_other = Categorical.from_logits(LOGITS[::-1]), Categorical.from_logits(np.asarray(LOGITS[::-1]), ops=np_ops)
    np.testing.assert_allclose(np.asarray(ours.kl(other)), ref.kl(ref_other), rtol=1e-5, atol=1e-6)
    actions = np.array([0, 1, 2, 3, 0, 1])
    np.testing.assert_allclose(np.asarray(ours.logp(actions)), ref.logp(actions), rtol=1e-5, atol=1e-6)
