"""The action distributions on the backend under test, against NumPy closed forms.

Inputs are float64 where the framework promotes float32 to float64 (tolerance 1e-10),
float32 otherwise (tolerance 2e-5; see the ``fdt`` fixture). SciPy is not needed: ``reference`` holds the closed
forms, and expectations are integrated on a fine grid.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rlmodule_core.distributions import (
    Categorical,
    Deterministic,
    DiagGaussian,
    MultiCategorical,
    SquashedGaussian,
    get_action_dist_cls,
)
from rlmodule_core.testing import reference as ref

N = 20_000  # samples for the statistics tests


@pytest.fixture
def fdt(ops) -> str:
    """The float dtype of the inputs: float64 when the framework promotes float32 to it.

    The distributions hold float32 constants (bounds, noise), so float64 logits need a
    framework that promotes mixed arithmetic (NumPy, torch); TF refuses to mix and JAX
    without x64 has no float64, so those are checked in float32, the dtype modules emit.
    """
    try:
        mixed = ops.asarray(np.ones(1), dtype="float64") * ops.asarray(np.ones(1, np.float32))
        promotes = np.asarray(ops.to_numpy(mixed)).dtype == np.float64
    except Exception:  # noqa: BLE001 - each framework raises its own type
        promotes = False
    return "float64" if promotes else "float32"


@pytest.fixture
def tol(fdt) -> float:
    return 1e-10 if fdt == "float64" else 2e-5


@pytest.fixture
def T(ops, fdt):
    """``T(x)``: a NumPy value as a tensor of the backend (floats in ``fdt``)."""

    def tensor(x: Any) -> Any:
        x = np.asarray(x)
        return ops.asarray(x, dtype=fdt) if np.issubdtype(x.dtype, np.floating) else ops.asarray(x)

    return tensor


@pytest.fixture
def N_(ops):
    """``N_(x)``: a backend result (or a tuple/dict of them) as NumPy."""

    def to_numpy(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: to_numpy(v) for k, v in x.items()}
        if isinstance(x, tuple | list):
            return type(x)(to_numpy(v) for v in x)
        return np.asarray(ops.to_numpy(x))

    return to_numpy


@pytest.fixture
def rnd():
    return np.random.default_rng(1234)


def close(got, want, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------
# Finding ops from the tensor


def test_ops_none_resolves_through_the_registry(ops, T, N_, tol):
    logits = T(np.array([[0.0, 1.0]]))
    dist = Categorical.from_logits(logits)
    assert dist.ops is ops  # found from the tensor's type
    close(N_(dist.logp(T(np.array([1])))), ref.log_softmax(np.array([0.0, 1.0]))[1:], tol)


# ----------------------------------------------------------------------------------------
# Categorical


def test_categorical_logp_entropy_kl_closed_forms(ops, T, N_, tol, rnd):
    logits = rnd.normal(size=(4, 5)) * 2
    other = rnd.normal(size=(4, 5))
    p, q = ref.softmax(logits), ref.softmax(other)
    dist = Categorical.from_logits(T(logits), ops=ops)
    actions = np.array([0, 4, 2, 1])
    close(N_(dist.logp(T(actions))), np.log(p[np.arange(4), actions]), tol)
    close(N_(dist.entropy()), ref.categorical_entropy(p), tol)
    close(N_(dist.kl(Categorical.from_logits(T(other), ops=ops))), ref.categorical_kl(p, q), tol)
    close(N_(dist.probs), p, tol)


def test_categorical_handles_masked_logits(ops, T, N_, tol):
    logits = np.array([[0.0, -np.inf, np.log(3.0)]])
    dist = Categorical.from_logits(T(logits), ops=ops)
    close(N_(dist.entropy()), ref.categorical_entropy([0.25, 0.0, 0.75]), tol)
    other = Categorical.from_logits(T(np.array([[0.0, 0.0, 0.0]])), ops=ops)
    close(N_(dist.kl(other)), ref.categorical_kl([0.25, 0, 0.75], [1 / 3] * 3), tol)
    assert np.all(N_(dist.sample(sample_shape=(1000,), rng=0)) != 1)


def test_categorical_sample_frequencies(ops, T, N_, widest_int):
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]))
    samples = N_(Categorical.from_logits(T(logits), ops=ops).sample(sample_shape=(N,), rng=0))
    assert samples.shape == (N, 2) and samples.dtype == widest_int
    for row, probs in enumerate(np.exp(logits)):
        freq = np.bincount(samples[:, row], minlength=3) / N
        np.testing.assert_allclose(freq, probs, atol=0.015)  # standard error <= 0.0036


@pytest.fixture
def widest_int(ops) -> np.dtype:
    """int64, or int32 where the framework defaults to 32 bits."""
    return np.asarray(ops.to_numpy(ops.zeros((1,), "int64"))).dtype


@pytest.mark.parametrize(
    "cls, dim",
    [
        (Categorical, 10),
        (DiagGaussian, 6),
        (SquashedGaussian.with_bounds(-2.0, 3.0), 4),
        (MultiCategorical.for_nvec([2, 3]), 5),
    ],
)
def test_seeded_sampling_is_reproducible(ops, T, N_, cls, dim):
    # Flat distributions over 64 rows: two independent draws never coincide by chance.
    dist = cls.from_logits(T(np.zeros((64, dim))), ops=ops)
    a = N_(dist.sample(rng=5))
    np.testing.assert_array_equal(a, N_(dist.sample(rng=5)))
    assert not np.array_equal(a, N_(dist.sample(rng=6)))
    g = ops.rng(5)
    first, second = N_(dist.sample(rng=g)), N_(dist.sample(rng=g))
    np.testing.assert_array_equal(first, N_(dist.sample(rng=ops.rng(5))))
    assert not np.array_equal(first, second)  # the stream continues
    assert N_(dist.sample(sample_shape=(3,))).shape[0] == 3  # the default generator


def test_categorical_shapes_and_logp_of_sample_dims(ops, T, N_, tol, rnd):
    logits = rnd.normal(size=(3, 4, 6))
    dist = Categorical.from_logits(T(logits), ops=ops)
    assert tuple(dist.batch_shape) == (3, 4)
    assert N_(dist.sample(rng=0)).shape == (3, 4)
    samples = dist.sample(sample_shape=(7, 2), rng=0)
    s = N_(samples)
    assert s.shape == (7, 2, 3, 4)
    assert s.min() >= 0 and s.max() < 6
    lp = N_(dist.logp(samples))
    assert lp.shape == (7, 2, 3, 4)
    expected = np.take_along_axis(
        np.broadcast_to(ref.log_softmax(logits), (7, 2, 3, 4, 6)), s[..., None], -1
    )[..., 0]
    close(lp, expected, tol)
    assert N_(dist.entropy()).shape == (3, 4)


def test_categorical_return_logp_deterministic_and_no_rsample(ops, T, N_, rnd):
    logits = rnd.normal(size=(5, 3))
    dist = Categorical.from_logits(T(logits), ops=ops)
    actions, logp = dist.sample(rng=1, return_logp=True)
    close(N_(logp), N_(dist.logp(actions)), 1e-6)
    greedy = dist.to_deterministic()
    assert isinstance(greedy, Deterministic)
    np.testing.assert_array_equal(N_(greedy.sample()), logits.argmax(-1))
    np.testing.assert_array_equal(N_(greedy.logp(greedy.sample())), np.zeros(5))
    with pytest.raises(NotImplementedError, match="Categorical has no reparameterized sample"):
        dist.rsample()


def test_categorical_is_exact_with_large_logits(ops, N_):
    dist = Categorical.from_logits(ops.asarray(np.array([[1e4, 0.0, -1e4]], dtype=np.float32)), ops=ops)
    close(N_(dist.logp(ops.asarray(np.array([1])))), [-1e4], 1e-6)
    assert np.isfinite(N_(dist.entropy())).all()


# ----------------------------------------------------------------------------------------
# DiagGaussian


def test_diag_gaussian_closed_forms(ops, T, N_, tol, rnd):
    mean, log_std = rnd.normal(size=(4, 3)), rnd.normal(size=(4, 3)) * 0.5
    mean2, log_std2 = rnd.normal(size=(4, 3)), rnd.normal(size=(4, 3)) * 0.5
    dist = DiagGaussian.from_logits(T(np.concatenate([mean, log_std], -1)), ops=ops)
    other = DiagGaussian.from_logits(T(np.concatenate([mean2, log_std2], -1)), ops=ops)
    x = rnd.normal(size=(4, 3))
    std, std2 = np.exp(log_std), np.exp(log_std2)
    close(N_(dist.logp(T(x))), ref.normal_logpdf(x, mean, std).sum(-1), tol)
    close(N_(dist.entropy()), ref.normal_entropy(std).sum(-1), tol)
    kl = (np.log(std2 / std) + (std**2 + (mean - mean2) ** 2) / (2 * std2**2) - 0.5).sum(-1)
    close(N_(dist.kl(other)), kl, tol)
    close(N_(dist.kl(dist)), np.zeros(4), 0, atol=1e-12 if tol < 1e-6 else 1e-6)


def test_diag_gaussian_sample_statistics(ops, N_):
    mean, log_std = np.array([1.0, -2.0, 0.0]), np.log(np.array([0.5, 2.0, 1.0]))
    dist = DiagGaussian.from_logits(ops.asarray(np.concatenate([mean, log_std])[None].astype(np.float32)), ops=ops)
    samples = N_(dist.sample(sample_shape=(N,), rng=0))
    assert samples.shape == (N, 1, 3) and samples.dtype == np.float32
    std = np.exp(log_std)
    assert np.all(np.abs(samples[:, 0].mean(0) - mean) < 5 * std / np.sqrt(N))
    np.testing.assert_allclose(samples[:, 0].std(0), std, rtol=0.03)
    np.testing.assert_array_equal(N_(dist.rsample(sample_shape=(N,), rng=0)), samples)


def test_diag_gaussian_seeds_and_deterministic(ops, N_):
    logits = np.array([[0.3, -0.7, 0.0, 0.0]], dtype=np.float32)
    dist = DiagGaussian.from_logits(ops.asarray(logits), ops=ops)
    np.testing.assert_array_equal(N_(dist.sample(rng=3)), N_(dist.sample(rng=3)))
    assert not np.array_equal(N_(dist.sample(rng=3)), N_(dist.sample(rng=4)))
    actions, logp = dist.sample(rng=3, return_logp=True)
    close(N_(logp), N_(dist.logp(actions)), 1e-6)
    np.testing.assert_array_equal(N_(dist.to_deterministic().sample()), logits[:, :2])


def test_diag_gaussian_for_multi_dim_box(ops, T, N_, tol, rnd):
    space = gym.spaces.Box(-1.0, 1.0, (2, 3))
    cls = get_action_dist_cls(space)
    logits = rnd.normal(size=(5, 12))
    dist = cls.from_logits(T(logits), ops=ops)
    assert tuple(dist.batch_shape) == (5,)
    assert N_(dist.sample(rng=0)).shape == (5, 2, 3)
    assert N_(dist.sample(sample_shape=(4,), rng=0)).shape == (4, 5, 2, 3)
    x = rnd.normal(size=(5, 2, 3))
    flat = DiagGaussian.from_logits(T(logits), ops=ops)  # the same numbers, flat event
    close(N_(dist.logp(T(x))), N_(flat.logp(T(x.reshape(5, 6)))), tol)
    close(N_(dist.entropy()), N_(flat.entropy()), tol)
    assert N_(dist.to_deterministic().sample()).shape == (5, 2, 3)
    np.testing.assert_array_equal(N_(dist.to_deterministic().logp(T(x))), np.zeros(5))
    with pytest.raises(ValueError, match="last axis of 12"):
        cls.from_logits(T(np.zeros((5, 10))), ops=ops)


def test_diag_gaussian_scalar_box(ops, T, N_, tol):
    cls = get_action_dist_cls(gym.spaces.Box(-1.0, 1.0, ()))
    dist = cls.from_logits(T(np.array([[0.5, 0.0], [1.0, 0.0]])), ops=ops)
    assert N_(dist.sample(rng=0)).shape == (2,)
    close(N_(dist.logp(T(np.array([0.5, 0.0])))), ref.normal_logpdf([0.0, -1.0], 0.0, 1.0), tol)


def test_diag_gaussian_rejects_odd_logits(ops, T):
    with pytest.raises(ValueError, match="even size"):
        DiagGaussian.from_logits(T(np.zeros((2, 3))), ops=ops)


# ----------------------------------------------------------------------------------------
# SquashedGaussian


def _numerical_squashed_density(a, mu, sigma, low, high, delta=1e-6):
    """p(a) as P(action in [a - delta, a + delta]) / (2 delta), in float64."""
    center, scale = (high + low) / 2, (high - low) / 2

    def cdf(b):
        return ref.normal_cdf((np.arctanh((b - center) / scale) - mu) / sigma)

    return (cdf(a + delta) - cdf(a - delta)) / (2 * delta)


@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (0.0, 4.0), (-3.0, -1.0)])
def test_squashed_logp_matches_change_of_variables(ops, T, N_, tol, rnd, low, high):
    cls = SquashedGaussian if (low, high) == (-1.0, 1.0) else SquashedGaussian.with_bounds(low, high)
    mu, log_sigma = rnd.normal(size=(6, 2)) * 0.7, rnd.normal(size=(6, 2)) * 0.4
    sigma = np.exp(log_sigma)
    dist = cls.from_logits(T(np.concatenate([mu, log_sigma], -1)), ops=ops)
    actions = low + (high - low) * rnd.uniform(0.05, 0.95, size=(6, 2))
    expected = np.log(_numerical_squashed_density(actions, mu, sigma, low, high)).sum(-1)
    close(N_(dist.logp(T(actions))), expected, max(tol, 1e-6), atol=max(tol, 1e-6) * 10)


def test_squashed_return_logp_is_exact_where_tanh_saturates(ops, N_):
    # u ~ 20: tanh(u) rounds to 1 in float32, so only the pre-squash logp is exact.
    logits = np.array([[20.0, -1.0]], dtype=np.float32)
    dist = SquashedGaussian.from_logits(ops.asarray(logits), ops=ops)
    actions, logp = dist.sample(rng=0, return_logp=True)
    # The same noise: the distribution draws ops.normal(ops.as_rng(seed), shape).
    noise = np.asarray(ops.to_numpy(ops.normal(ops.as_rng(0), (1, 1))), np.float64)
    u = 20.0 + np.exp(-1.0) * noise
    expected = ref.normal_logpdf(u, 20.0, np.exp(-1.0)) + 2.0 * np.log(np.cosh(u))
    assert N_(actions)[0, 0] == pytest.approx(1.0)
    close(N_(logp), expected.sum(-1), 1e-5)
    # logp of the rounded action is finite (the action is pulled inside the bound)
    assert np.isfinite(N_(dist.logp(actions))).all()


def test_squashed_samples_in_bounds_with_right_mean(ops, T, N_):
    squashed = SquashedGaussian.with_bounds(np.array([0.0, -2.0]), np.array([2.0, 6.0]))
    mu, sigma = np.array([0.3, -0.5]), np.array([0.8, 1.5])
    dist = squashed.from_logits(T(np.concatenate([mu, np.log(sigma)])[None]), ops=ops)
    samples = N_(dist.sample(sample_shape=(N,), rng=1))[:, 0]
    assert np.all(samples >= [0.0, -2.0]) and np.all(samples <= [2.0, 6.0])
    center, scale = np.array([1.0, 2.0]), np.array([1.0, 4.0])
    for i in range(2):
        exact = ref.normal_expectation(lambda u, i=i: center[i] + scale[i] * np.tanh(u), mu[i], sigma[i])
        assert samples[:, i].mean() == pytest.approx(exact, abs=5 * scale[i] / np.sqrt(N))
    close(N_(dist.to_deterministic().sample()), [center + scale * np.tanh(mu)], 1e-6)


@pytest.mark.parametrize("mu", [0.0, 0.7, -2.5, 8.0])
@pytest.mark.parametrize("sigma", [0.05, 0.9, 1.1, 3.0, 20.0])
def test_squashed_entropy_matches_integration(ops, T, N_, fdt, mu, sigma):
    squashed = SquashedGaussian.with_bounds(-2.0, 2.0)
    dist = squashed.from_logits(T(np.array([[mu, np.log(sigma)]])), ops=ops)

    # H(action) = -E[log p(action)] with p(action) by the change of variables, in float64;
    # log cosh(u) = |u| + log1p(exp(-2|u|)) - log 2 without overflow.
    def neg_log_p(u):
        log_cosh = np.abs(u) + np.log1p(np.exp(-2 * np.abs(u))) - np.log(2.0)
        return -(ref.normal_logpdf(u, mu, sigma) - np.log(2.0) + 2.0 * log_cosh)

    exact = ref.normal_expectation(neg_log_p, mu, sigma)
    close(N_(dist.entropy()), [exact], 0, atol=1e-4 if fdt == "float64" else 5e-4)


def test_squashed_kl_and_errors(ops, T, N_, tol, rnd):
    a, b = rnd.normal(size=(3, 4)), rnd.normal(size=(3, 4))
    da, db = SquashedGaussian.from_logits(T(a), ops=ops), SquashedGaussian.from_logits(T(b), ops=ops)
    close(N_(da.kl(db)), N_(DiagGaussian.from_logits(T(a), ops=ops).kl(DiagGaussian.from_logits(T(b), ops=ops))), tol)
    with pytest.raises(ValueError, match="same bounds"):
        da.kl(SquashedGaussian.with_bounds(0.0, 1.0).from_logits(T(b), ops=ops))
    with pytest.raises(TypeError, match="expected a SquashedGaussian; received DiagGaussian"):
        da.kl(DiagGaussian.from_logits(T(b), ops=ops))
    with pytest.raises(TypeError):
        DiagGaussian.from_logits(T(a), ops=ops).kl(db)  # a squashed one is no DiagGaussian


def test_squashed_rsample_matches_sample(ops, N_):
    dist = SquashedGaussian.from_logits(ops.asarray(np.array([[0.1, 0.2, -0.5, 0.3]], np.float32)), ops=ops)
    np.testing.assert_array_equal(N_(dist.rsample(rng=9)), N_(dist.sample(rng=9)))
    actions, logp = dist.rsample(rng=9, return_logp=True)
    close(N_(logp), N_(dist.logp(actions)), 1e-5)


def test_with_bounds_rejects_logits_of_the_wrong_size(ops, T):
    space = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 5.0], np.float32))
    cls = SquashedGaussian.with_bounds(space.low, space.high)
    with pytest.raises(ValueError, match="last axis of 4"):
        cls.from_logits(T(np.zeros((1, 6))), ops=ops)


# ----------------------------------------------------------------------------------------
# Deterministic


def test_deterministic(ops, N_):
    loc = np.array([[0.5, -0.5], [1.0, 2.0]], dtype=np.float32)
    dist = Deterministic.from_logits(ops.asarray(loc), ops=ops)
    np.testing.assert_array_equal(N_(dist.sample(rng=0)), loc)
    assert N_(dist.sample(sample_shape=(3,))).shape == (3, 2, 2)
    np.testing.assert_array_equal(N_(dist.sample(sample_shape=(3,)))[2], loc)
    np.testing.assert_array_equal(N_(dist.logp(ops.asarray(loc))), np.zeros(2))
    np.testing.assert_array_equal(N_(dist.entropy()), np.zeros(2))
    np.testing.assert_array_equal(N_(dist.kl(dist)), np.zeros(2))
    assert dist.to_deterministic() is dist
    with pytest.raises(NotImplementedError):
        dist.rsample()


# ----------------------------------------------------------------------------------------
# MultiCategorical


def test_multi_categorical_logp_is_sum_of_parts(ops, T, N_, tol, rnd, widest_int):
    cls = MultiCategorical.for_nvec([2, 3, 4])
    logits = rnd.normal(size=(5, 9))
    dist = cls.from_logits(T(logits), ops=ops)
    actions = dist.sample(rng=0)
    a = N_(actions)
    assert a.shape == (5, 3) and a.dtype == widest_int
    assert np.all(a >= 0) and np.all(a < [2, 3, 4])
    parts = [logits[:, :2], logits[:, 2:5], logits[:, 5:]]
    logp = sum(ref.log_softmax(p)[np.arange(5), a[:, i]] for i, p in enumerate(parts))
    close(N_(dist.logp(actions)), logp, tol)
    close(N_(dist.entropy()), sum(ref.categorical_entropy(ref.softmax(p)) for p in parts), tol)
    other_logits = rnd.normal(size=(5, 9))
    other = cls.from_logits(T(other_logits), ops=ops)
    other_parts = [other_logits[:, :2], other_logits[:, 2:5], other_logits[:, 5:]]
    expected_kl = sum(
        ref.categorical_kl(ref.softmax(p), ref.softmax(q)) for p, q in zip(parts, other_parts, strict=True)
    )
    close(N_(dist.kl(other)), expected_kl, tol)
    np.testing.assert_array_equal(N_(dist.to_deterministic().sample()), np.stack([p.argmax(-1) for p in parts], -1))
    samples = dist.sample(sample_shape=(6,), rng=0)
    assert N_(samples).shape == (6, 5, 3) and N_(dist.logp(samples)).shape == (6, 5)


def test_multi_categorical_frequencies_and_seeds(ops, T, N_):
    cls = MultiCategorical.for_nvec([2, 3])
    probs = [np.array([0.2, 0.8]), np.array([0.6, 0.3, 0.1])]
    dist = cls.from_logits(T(np.log(np.concatenate(probs))[None]), ops=ops)
    samples = N_(dist.sample(sample_shape=(N,), rng=2))[:, 0]
    for i, p in enumerate(probs):
        np.testing.assert_allclose(np.bincount(samples[:, i], minlength=len(p)) / N, p, atol=0.015)
    np.testing.assert_array_equal(N_(dist.sample(rng=2)), N_(dist.sample(rng=2)))


def test_multi_categorical_2d_nvec_and_errors(ops, T, N_, tol, rnd):
    space = gym.spaces.MultiDiscrete([[2, 3], [4, 5]])
    cls = get_action_dist_cls(space)
    logits = rnd.normal(size=(3, 14))
    dist = cls.from_logits(T(logits), ops=ops)
    actions = dist.sample(rng=0)
    a = N_(actions)
    assert a.shape == (3, 2, 2)
    assert np.all(a < np.array([[2, 3], [4, 5]]))
    flat = MultiCategorical.for_nvec([2, 3, 4, 5]).from_logits(T(logits), ops=ops)
    close(N_(dist.logp(actions)), N_(flat.logp(T(a.reshape(3, 4)))), tol)
    assert N_(dist.to_deterministic().sample()).shape == (3, 2, 2)
    with pytest.raises(ValueError, match="for_nvec"):
        MultiCategorical.from_logits(T(np.zeros((1, 5))), ops=ops)
    with pytest.raises(ValueError, match="sum\\(nvec\\) = 14"):
        cls.from_logits(T(np.zeros((1, 13))), ops=ops)


# ----------------------------------------------------------------------------------------
# MultiDistribution


def test_multi_distribution_tuple(ops, T, N_, tol, rnd):
    space = gym.spaces.Tuple([gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (2,))])
    cls = get_action_dist_cls(space)
    logits = rnd.normal(size=(4, 7))
    dist = cls.from_logits(T(logits), ops=ops)
    actions = dist.sample(rng=0)
    assert isinstance(actions, tuple) and len(actions) == 2
    a = N_(actions)
    assert a[0].shape == (4,) and a[1].shape == (4, 2)
    cat = Categorical.from_logits(T(logits[:, :3]), ops=ops)
    gauss = DiagGaussian.from_logits(T(logits[:, 3:]), ops=ops)
    close(N_(dist.logp(actions)), N_(cat.logp(actions[0])) + N_(gauss.logp(actions[1])), tol)
    mean, std = logits[:, 3:5], np.exp(logits[:, 5:7])
    closed = ref.log_softmax(logits[:, :3])[np.arange(4), a[0]] + ref.normal_logpdf(a[1], mean, std).sum(-1)
    close(N_(dist.logp(actions)), closed, max(tol, 1e-6))
    close(N_(dist.logp(list(actions))), N_(dist.logp(actions)), tol)
    close(N_(dist.entropy()), N_(cat.entropy()) + N_(gauss.entropy()), tol)
    other = cls.from_logits(T(rnd.normal(size=(4, 7))), ops=ops)
    close(N_(dist.kl(other)), N_(cat.kl(other.children[0])) + N_(gauss.kl(other.children[1])), tol)
    # one seed fixes every part; another seed changes them
    np.testing.assert_array_equal(N_(dist.sample(rng=0))[1], a[1])
    assert not np.array_equal(N_(dist.sample(rng=1))[1], a[1])
    actions_lp, lp = dist.sample(rng=0, return_logp=True)
    close(N_(lp), N_(dist.logp(actions_lp)), 1e-6)
    greedy = N_(dist.to_deterministic().sample())
    np.testing.assert_array_equal(greedy[0], logits[:, :3].argmax(-1))
    close(greedy[1], logits[:, 3:5], tol)
    with pytest.raises(NotImplementedError):
        dist.rsample()  # the Categorical part cannot be reparameterized


def test_multi_distribution_dict_and_nesting(ops, T, N_, tol, rnd):
    space = gym.spaces.Dict(
        {
            "move": gym.spaces.Box(-1.0, 1.0, (2,)),
            "fire": gym.spaces.Discrete(2),
            "extra": gym.spaces.Tuple([gym.spaces.MultiDiscrete([2, 2])]),
        }
    )
    cls = get_action_dist_cls(space)
    logits = rnd.normal(size=(3, 10))
    dist = cls.from_logits(T(logits), ops=ops)
    actions = dist.sample(sample_shape=(5,), rng=0)
    assert set(actions) == {"move", "fire", "extra"}
    a = N_(actions)
    assert a["move"].shape == (5, 3, 2)
    assert a["fire"].shape == (5, 3)
    assert isinstance(actions["extra"], tuple) and a["extra"][0].shape == (5, 3, 2)
    extra = MultiCategorical.for_nvec([2, 2]).from_logits(T(logits[:, 0:4]), ops=ops)
    fire = Categorical.from_logits(T(logits[:, 4:6]), ops=ops)
    move = DiagGaussian.from_logits(T(logits[:, 6:10]), ops=ops)
    expected = N_(extra.logp(actions["extra"][0])) + N_(fire.logp(actions["fire"])) + N_(move.logp(actions["move"]))
    lp = N_(dist.logp(actions))
    assert lp.shape == (5, 3)
    close(lp, expected, tol)
    close(N_(dist.entropy()), N_(extra.entropy()) + N_(fire.entropy()) + N_(move.entropy()), tol)
    greedy = N_(dist.to_deterministic().sample())
    close(greedy["move"], logits[:, 6:8], tol)
    np.testing.assert_array_equal(greedy["fire"], logits[:, 4:6].argmax(-1))
    with pytest.raises(ValueError, match="expected a dict with the keys"):
        dist.logp((actions["move"],))


def test_for_children_rejects_logits_of_the_wrong_size(ops, T):
    from rlmodule_core.distributions import MultiDistribution

    with pytest.raises(ValueError, match="needs the child classes"):
        MultiDistribution.from_logits(T(np.zeros((1, 2))), ops=ops)
    cls = MultiDistribution.for_children((Categorical, Categorical), (2, 3))
    with pytest.raises(ValueError, match="last axis of 5"):
        cls.from_logits(T(np.zeros((1, 4))), ops=ops)
