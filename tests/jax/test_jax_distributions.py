"""The neutral action distributions on JAX arrays: PRNG keys, jit, gradients.

Values on every backend: rlmodule_core.testing.test_distributions."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from rlmodule_jax import ops

from rlmodule_core.distributions import Categorical, DiagGaussian, get_action_dist_cls

LOGITS = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32))
GAUSS = jnp.asarray(np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32))


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
