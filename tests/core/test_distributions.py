"""Action distributions on the NumPy ops: closed forms, sampling, shapes, structure."""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import pickle

import gymnasium as gym
import numpy as np
import pytest
from scipy import integrate, special, stats

from rlmodule_core.distributions import (
    Categorical,
    Deterministic,
    DiagGaussian,
    Distribution,
    MultiCategorical,
    MultiDistribution,
    SquashedGaussian,
    get_action_dist_cls,
)

N = 20_000  # samples for the statistics tests


@pytest.fixture(scope="module")
def ops():
    try:
        return importlib.import_module("rlmodule_numpy.ops")
    except ImportError:
        # The package may not be importable yet; ops.py imports only numpy.
        path = pathlib.Path(__file__).parents[2] / "src" / "backends" / "numpy" / "ops.py"
        spec = importlib.util.spec_from_file_location("_rlmodule_numpy_ops", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


@pytest.fixture
def rnd():
    return np.random.default_rng(1234)


# ----------------------------------------------------------------------------------------
# Categorical


def test_categorical_logp_entropy_kl_closed_forms(ops, rnd):
    logits = rnd.normal(size=(4, 5)) * 2
    other = rnd.normal(size=(4, 5))
    p, q = special.softmax(logits, -1), special.softmax(other, -1)
    dist = Categorical.from_logits(logits, ops=ops)
    actions = np.array([0, 4, 2, 1])
    np.testing.assert_allclose(dist.logp(actions), np.log(p[np.arange(4), actions]), rtol=1e-10)
    np.testing.assert_allclose(dist.entropy(), stats.entropy(p, axis=-1), rtol=1e-10)
    np.testing.assert_allclose(
        dist.kl(Categorical.from_logits(other, ops=ops)), stats.entropy(p, q, axis=-1), rtol=1e-10
    )
    np.testing.assert_allclose(dist.probs, p, rtol=1e-10)


def test_categorical_handles_masked_logits(ops):
    logits = np.array([[0.0, -np.inf, np.log(3.0)]])
    dist = Categorical.from_logits(logits, ops=ops)
    np.testing.assert_allclose(dist.entropy(), stats.entropy([0.25, 0.75]))
    other = Categorical.from_logits(np.array([[0.0, 0.0, 0.0]]), ops=ops)
    np.testing.assert_allclose(dist.kl(other), stats.entropy([0.25, 0, 0.75], [1 / 3] * 3))
    assert np.all(dist.sample(sample_shape=(1000,), rng=0) != 1)


def test_categorical_sample_frequencies(ops):
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]))
    samples = Categorical.from_logits(logits, ops=ops).sample(sample_shape=(N,), rng=0)
    assert samples.shape == (N, 2) and samples.dtype == np.int64
    for row, probs in enumerate(np.exp(logits)):
        freq = np.bincount(samples[:, row], minlength=3) / N
        np.testing.assert_allclose(freq, probs, atol=0.015)  # standard error <= 0.0036


def test_categorical_seeded_reproducibility(ops):
    dist = Categorical.from_logits(np.zeros((64, 10)), ops=ops)
    a = dist.sample(rng=5)
    np.testing.assert_array_equal(a, dist.sample(rng=5))
    np.testing.assert_array_equal(a, dist.sample(rng=ops.rng(5)))
    assert not np.array_equal(a, dist.sample(rng=6))
    g = ops.rng(5)
    assert not np.array_equal(dist.sample(rng=g), dist.sample(rng=g))  # the stream continues


def test_categorical_shapes_and_logp_of_sample_dims(ops, rnd):
    logits = rnd.normal(size=(3, 4, 6))
    dist = Categorical.from_logits(logits, ops=ops)
    assert dist.batch_shape == (3, 4)
    assert dist.sample(rng=0).shape == (3, 4)
    samples = dist.sample(sample_shape=(7, 2), rng=0)
    assert samples.shape == (7, 2, 3, 4)
    assert samples.min() >= 0 and samples.max() < 6
    lp = dist.logp(samples)
    assert lp.shape == (7, 2, 3, 4)
    expected = np.take_along_axis(
        np.broadcast_to(special.log_softmax(logits, -1), (7, 2, 3, 4, 6)), samples[..., None], -1
    )[..., 0]
    np.testing.assert_allclose(lp, expected, rtol=1e-10)
    assert dist.entropy().shape == (3, 4)


def test_categorical_return_logp_deterministic_and_no_rsample(ops, rnd):
    logits = rnd.normal(size=(5, 3))
    dist = Categorical.from_logits(logits, ops=ops)
    actions, logp = dist.sample(rng=1, return_logp=True)
    np.testing.assert_allclose(logp, dist.logp(actions))
    greedy = dist.to_deterministic()
    assert isinstance(greedy, Deterministic)
    np.testing.assert_array_equal(greedy.sample(), logits.argmax(-1))
    np.testing.assert_array_equal(greedy.logp(greedy.sample()), np.zeros(5))
    with pytest.raises(NotImplementedError, match="Categorical has no reparameterized sample"):
        dist.rsample()


def test_categorical_is_exact_with_large_logits(ops):
    dist = Categorical.from_logits(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), ops=ops)
    np.testing.assert_allclose(dist.logp(np.array([1])), [-1e4], rtol=1e-6)
    assert np.isfinite(dist.entropy()).all()


# ----------------------------------------------------------------------------------------
# DiagGaussian


def test_diag_gaussian_closed_forms(ops, rnd):
    mean, log_std = rnd.normal(size=(4, 3)), rnd.normal(size=(4, 3)) * 0.5
    mean2, log_std2 = rnd.normal(size=(4, 3)), rnd.normal(size=(4, 3)) * 0.5
    dist = DiagGaussian.from_logits(np.concatenate([mean, log_std], -1), ops=ops)
    other = DiagGaussian.from_logits(np.concatenate([mean2, log_std2], -1), ops=ops)
    x = rnd.normal(size=(4, 3))
    std, std2 = np.exp(log_std), np.exp(log_std2)
    np.testing.assert_allclose(dist.logp(x), stats.norm.logpdf(x, mean, std).sum(-1), rtol=1e-10)
    np.testing.assert_allclose(dist.entropy(), stats.norm.entropy(mean, std).sum(-1), rtol=1e-10)
    kl = (np.log(std2 / std) + (std**2 + (mean - mean2) ** 2) / (2 * std2**2) - 0.5).sum(-1)
    np.testing.assert_allclose(dist.kl(other), kl, rtol=1e-10)
    np.testing.assert_allclose(dist.kl(dist), np.zeros(4), atol=1e-12)


def test_diag_gaussian_sample_statistics(ops):
    mean, log_std = np.array([1.0, -2.0, 0.0]), np.log(np.array([0.5, 2.0, 1.0]))
    dist = DiagGaussian.from_logits(
        np.concatenate([mean, log_std])[None].astype(np.float32), ops=ops
    )
    samples = dist.sample(sample_shape=(N,), rng=0)
    assert samples.shape == (N, 1, 3) and samples.dtype == np.float32
    std = np.exp(log_std)
    assert np.all(np.abs(samples[:, 0].mean(0) - mean) < 5 * std / np.sqrt(N))
    np.testing.assert_allclose(samples[:, 0].std(0), std, rtol=0.03)
    np.testing.assert_array_equal(dist.rsample(sample_shape=(N,), rng=0), samples)


def test_diag_gaussian_seeds_and_deterministic(ops):
    logits = np.array([[0.3, -0.7, 0.0, 0.0]], dtype=np.float32)
    dist = DiagGaussian.from_logits(logits, ops=ops)
    np.testing.assert_array_equal(dist.sample(rng=3), dist.sample(rng=3))
    assert not np.array_equal(dist.sample(rng=3), dist.sample(rng=4))
    actions, logp = dist.sample(rng=3, return_logp=True)
    np.testing.assert_allclose(logp, dist.logp(actions), rtol=1e-6)
    np.testing.assert_array_equal(dist.to_deterministic().sample(), logits[:, :2])


def test_diag_gaussian_for_multi_dim_box(ops, rnd):
    space = gym.spaces.Box(-1.0, 1.0, (2, 3))
    cls = get_action_dist_cls(space)
    assert issubclass(cls, DiagGaussian) and cls.action_shape == (2, 3)
    assert cls.required_input_dim(space) == 12
    logits = rnd.normal(size=(5, 12))
    dist = cls.from_logits(logits, ops=ops)
    assert dist.batch_shape == (5,)
    assert dist.sample(rng=0).shape == (5, 2, 3)
    assert dist.sample(sample_shape=(4,), rng=0).shape == (4, 5, 2, 3)
    x = rnd.normal(size=(5, 2, 3))
    flat = DiagGaussian.from_logits(logits, ops=ops)  # the same numbers, flat event
    np.testing.assert_allclose(dist.logp(x), flat.logp(x.reshape(5, 6)), rtol=1e-10)
    np.testing.assert_allclose(dist.entropy(), flat.entropy(), rtol=1e-10)
    assert dist.to_deterministic().sample().shape == (5, 2, 3)
    np.testing.assert_array_equal(dist.to_deterministic().logp(x), np.zeros(5))
    with pytest.raises(ValueError, match="last axis of 12"):
        cls.from_logits(np.zeros((5, 10)), ops=ops)


def test_diag_gaussian_scalar_box(ops):
    space = gym.spaces.Box(-1.0, 1.0, ())
    cls = get_action_dist_cls(space)
    assert cls.required_input_dim(space) == 2
    dist = cls.from_logits(np.array([[0.5, 0.0], [1.0, 0.0]]), ops=ops)
    assert dist.sample(rng=0).shape == (2,)
    np.testing.assert_allclose(dist.logp(np.array([0.5, 0.0])), stats.norm.logpdf([0.0, -1.0]))


def test_diag_gaussian_rejects_odd_logits(ops):
    with pytest.raises(ValueError, match="even size"):
        DiagGaussian.from_logits(np.zeros((2, 3)), ops=ops)


# ----------------------------------------------------------------------------------------
# SquashedGaussian


def _numerical_squashed_density(a, mu, sigma, low, high, delta=1e-6):
    """p(a) as P(action in [a - delta, a + delta]) / (2 delta), in float64."""
    center, scale = (high + low) / 2, (high - low) / 2

    def cdf(b):
        return stats.norm.cdf((np.arctanh((b - center) / scale) - mu) / sigma)

    return (cdf(a + delta) - cdf(a - delta)) / (2 * delta)


@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (0.0, 4.0), (-3.0, -1.0)])
def test_squashed_logp_matches_change_of_variables(ops, rnd, low, high):
    cls = (
        SquashedGaussian if (low, high) == (-1.0, 1.0) else SquashedGaussian.with_bounds(low, high)
    )
    mu, log_sigma = rnd.normal(size=(6, 2)) * 0.7, rnd.normal(size=(6, 2)) * 0.4
    sigma = np.exp(log_sigma)
    dist = cls.from_logits(np.concatenate([mu, log_sigma], -1), ops=ops)
    actions = low + (high - low) * rnd.uniform(0.05, 0.95, size=(6, 2))
    expected = np.log(_numerical_squashed_density(actions, mu, sigma, low, high)).sum(-1)
    np.testing.assert_allclose(dist.logp(actions), expected, rtol=1e-6, atol=1e-6)


def test_squashed_return_logp_is_exact_where_tanh_saturates(ops):
    # u ~ 20: tanh(u) rounds to 1 in float32, so only the pre-squash logp is exact.
    logits = np.array([[20.0, -1.0]], dtype=np.float32)
    dist = SquashedGaussian.from_logits(logits, ops=ops)
    actions, logp = dist.sample(rng=0, return_logp=True)
    u = np.float64(20.0) + np.exp(-1.0) * np.random.default_rng(0).standard_normal(
        (1, 1), dtype=np.float32
    ).astype(np.float64)
    expected = stats.norm.logpdf(u, 20.0, np.exp(-1.0)) + 2.0 * np.log(np.cosh(u))
    assert actions[0, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(logp, expected.sum(-1), rtol=1e-5)
    # logp of the rounded action is finite (the action is pulled inside the bound)
    assert np.isfinite(dist.logp(actions)).all()


def test_squashed_samples_in_bounds_with_right_mean(ops):
    Squashed = SquashedGaussian.with_bounds(np.array([0.0, -2.0]), np.array([2.0, 6.0]))
    mu, sigma = np.array([0.3, -0.5]), np.array([0.8, 1.5])
    dist = Squashed.from_logits(np.concatenate([mu, np.log(sigma)])[None], ops=ops)
    samples = dist.sample(sample_shape=(N,), rng=1)[:, 0]
    assert np.all(samples >= [0.0, -2.0]) and np.all(samples <= [2.0, 6.0])
    center, scale = np.array([1.0, 2.0]), np.array([1.0, 4.0])
    for i in range(2):
        exact, _ = integrate.quad(
            lambda u, i=i: (center[i] + scale[i] * np.tanh(u)) * stats.norm.pdf(u, mu[i], sigma[i]),
            -np.inf,
            np.inf,
        )
        assert samples[:, i].mean() == pytest.approx(exact, abs=5 * scale[i] / np.sqrt(N))
    np.testing.assert_allclose(dist.to_deterministic().sample(), [center + scale * np.tanh(mu)])


@pytest.mark.parametrize("mu", [0.0, 0.7, -2.5, 8.0])
@pytest.mark.parametrize("sigma", [0.05, 0.9, 1.1, 3.0, 20.0])
def test_squashed_entropy_matches_integration(ops, mu, sigma):
    Squashed = SquashedGaussian.with_bounds(-2.0, 2.0)
    dist = Squashed.from_logits(np.array([[mu, np.log(sigma)]]), ops=ops)

    # H(action) = -E[log p(action)] with p(action) by the change of variables, in float64.
    def integrand(u):
        log_p = stats.norm.logpdf(u, mu, sigma) - np.log(2.0) + 2.0 * np.log(np.cosh(u))
        return -log_p * stats.norm.pdf(u, mu, sigma)

    exact, _ = integrate.quad(
        integrand, mu - 12 * sigma, mu + 12 * sigma, points=[0.0], limit=500, epsabs=1e-11
    )
    np.testing.assert_allclose(dist.entropy(), [exact], atol=1e-4)


def test_squashed_kl_and_errors(ops, rnd):
    a, b = rnd.normal(size=(3, 4)), rnd.normal(size=(3, 4))
    da, db = SquashedGaussian.from_logits(a, ops=ops), SquashedGaussian.from_logits(b, ops=ops)
    np.testing.assert_allclose(
        da.kl(db), DiagGaussian.from_logits(a, ops=ops).kl(DiagGaussian.from_logits(b, ops=ops))
    )
    with pytest.raises(ValueError, match="same bounds"):
        da.kl(SquashedGaussian.with_bounds(0.0, 1.0).from_logits(b, ops=ops))
    with pytest.raises(TypeError, match="expected a SquashedGaussian; received DiagGaussian"):
        da.kl(DiagGaussian.from_logits(b, ops=ops))
    with pytest.raises(TypeError):
        DiagGaussian.from_logits(a, ops=ops).kl(db)  # a squashed one is no DiagGaussian


def test_squashed_rsample_matches_sample(ops):
    dist = SquashedGaussian.from_logits(np.array([[0.1, 0.2, -0.5, 0.3]]), ops=ops)
    np.testing.assert_array_equal(dist.rsample(rng=9), dist.sample(rng=9))
    actions, logp = dist.rsample(rng=9, return_logp=True)
    np.testing.assert_allclose(logp, dist.logp(actions), rtol=1e-5)


def test_with_bounds_validation_and_caching(ops):
    space = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 5.0], np.float32))
    cls = SquashedGaussian.with_bounds(space.low, space.high)
    assert cls is SquashedGaussian.with_bounds(space.low, space.high)
    assert cls.action_shape == (2,)
    with pytest.raises(ValueError, match="last axis of 4"):
        cls.from_logits(np.zeros((1, 6)), ops=ops)
    uniform = SquashedGaussian.with_bounds(np.full(3, -2.0), np.full(3, 2.0))
    assert uniform.low == -2.0 and uniform.high == 2.0 and uniform.action_shape == (3,)
    with pytest.raises(ValueError, match="low < high"):
        SquashedGaussian.with_bounds(1.0, 1.0)
    with pytest.raises(ValueError, match="infinite bounds"):
        SquashedGaussian.with_bounds(-np.inf, np.inf)


# ----------------------------------------------------------------------------------------
# Deterministic


def test_deterministic(ops):
    loc = np.array([[0.5, -0.5], [1.0, 2.0]], dtype=np.float32)
    dist = Deterministic.from_logits(loc, ops=ops)
    np.testing.assert_array_equal(dist.sample(rng=0), loc)
    assert dist.sample(sample_shape=(3,)).shape == (3, 2, 2)
    np.testing.assert_array_equal(dist.sample(sample_shape=(3,))[2], loc)
    np.testing.assert_array_equal(dist.logp(loc), np.zeros(2))
    np.testing.assert_array_equal(dist.entropy(), np.zeros(2))
    np.testing.assert_array_equal(dist.kl(dist), np.zeros(2))
    assert dist.to_deterministic() is dist
    assert Deterministic.required_input_dim(gym.spaces.Box(0, 1, (2, 3))) == 6
    with pytest.raises(NotImplementedError):
        dist.rsample()


# ----------------------------------------------------------------------------------------
# MultiCategorical


def test_multi_categorical_logp_is_sum_of_parts(ops, rnd):
    cls = MultiCategorical.for_nvec([2, 3, 4])
    logits = rnd.normal(size=(5, 9))
    dist = cls.from_logits(logits, ops=ops)
    actions = dist.sample(rng=0)
    assert actions.shape == (5, 3) and actions.dtype == np.int64
    assert np.all(actions >= 0) and np.all(actions < [2, 3, 4])
    parts = [logits[:, :2], logits[:, 2:5], logits[:, 5:]]
    cats = [Categorical.from_logits(p, ops=ops) for p in parts]
    np.testing.assert_allclose(
        dist.logp(actions), sum(c.logp(actions[:, i]) for i, c in enumerate(cats)), rtol=1e-10
    )
    np.testing.assert_allclose(dist.entropy(), sum(c.entropy() for c in cats), rtol=1e-10)
    other = cls.from_logits(rnd.normal(size=(5, 9)), ops=ops)
    expected_kl = sum(c.kl(o) for c, o in zip(cats, other.categoricals, strict=True))
    np.testing.assert_allclose(dist.kl(other), expected_kl, rtol=1e-10)
    np.testing.assert_array_equal(
        dist.to_deterministic().sample(), np.stack([p.argmax(-1) for p in parts], -1)
    )
    samples = dist.sample(sample_shape=(6,), rng=0)
    assert samples.shape == (6, 5, 3) and dist.logp(samples).shape == (6, 5)


def test_multi_categorical_frequencies_and_seeds(ops):
    cls = MultiCategorical.for_nvec([2, 3])
    probs = [np.array([0.2, 0.8]), np.array([0.6, 0.3, 0.1])]
    dist = cls.from_logits(np.log(np.concatenate(probs))[None], ops=ops)
    samples = dist.sample(sample_shape=(N,), rng=2)[:, 0]
    for i, p in enumerate(probs):
        np.testing.assert_allclose(np.bincount(samples[:, i], minlength=len(p)) / N, p, atol=0.015)
    np.testing.assert_array_equal(dist.sample(rng=2), dist.sample(rng=2))


def test_multi_categorical_2d_nvec_and_errors(ops, rnd):
    space = gym.spaces.MultiDiscrete([[2, 3], [4, 5]])
    cls = get_action_dist_cls(space)
    assert cls is MultiCategorical.for_nvec(space.nvec)
    assert cls.required_input_dim(space) == 14
    dist = cls.from_logits(rnd.normal(size=(3, 14)), ops=ops)
    actions = dist.sample(rng=0)
    assert actions.shape == (3, 2, 2)
    assert np.all(actions < np.array([[2, 3], [4, 5]]))
    flat = MultiCategorical.for_nvec([2, 3, 4, 5]).from_logits(
        np.concatenate([c.logits for c in dist.categoricals], -1), ops=ops
    )
    np.testing.assert_allclose(dist.logp(actions), flat.logp(actions.reshape(3, 4)))
    assert dist.to_deterministic().sample().shape == (3, 2, 2)
    with pytest.raises(ValueError, match="for_nvec"):
        MultiCategorical.from_logits(np.zeros((1, 5)), ops=ops)
    with pytest.raises(ValueError, match="sum\\(nvec\\) = 14"):
        cls.from_logits(np.zeros((1, 13)), ops=ops)
    with pytest.raises(ValueError, match="integers >= 1"):
        MultiCategorical.for_nvec([2, 0])


# ----------------------------------------------------------------------------------------
# MultiDistribution


def test_multi_distribution_tuple(ops, rnd):
    space = gym.spaces.Tuple([gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (2,))])
    cls = get_action_dist_cls(space)
    assert issubclass(cls, MultiDistribution)
    assert cls.child_classes == (Categorical, DiagGaussian) and cls.input_lens == (3, 4)
    assert cls.required_input_dim(space) == 7
    logits = rnd.normal(size=(4, 7))
    dist = cls.from_logits(logits, ops=ops)
    actions = dist.sample(rng=0)
    assert isinstance(actions, tuple) and len(actions) == 2
    assert actions[0].shape == (4,) and actions[1].shape == (4, 2)
    cat = Categorical.from_logits(logits[:, :3], ops=ops)
    gauss = DiagGaussian.from_logits(logits[:, 3:], ops=ops)
    np.testing.assert_allclose(
        dist.logp(actions), cat.logp(actions[0]) + gauss.logp(actions[1]), rtol=1e-10
    )
    np.testing.assert_allclose(dist.logp(list(actions)), dist.logp(actions))
    np.testing.assert_allclose(dist.entropy(), cat.entropy() + gauss.entropy(), rtol=1e-10)
    other = cls.from_logits(rnd.normal(size=(4, 7)), ops=ops)
    np.testing.assert_allclose(
        dist.kl(other),
        cat.kl(other.children[0]) + gauss.kl(other.children[1]),
        rtol=1e-10,
    )
    # one seed fixes every part; another seed changes them
    again = dist.sample(rng=0)
    np.testing.assert_array_equal(again[1], actions[1])
    assert not np.array_equal(dist.sample(rng=1)[1], actions[1])
    actions_lp, lp = dist.sample(rng=0, return_logp=True)
    np.testing.assert_allclose(lp, dist.logp(actions_lp))
    greedy = dist.to_deterministic().sample()
    np.testing.assert_array_equal(greedy[0], logits[:, :3].argmax(-1))
    np.testing.assert_array_equal(greedy[1], logits[:, 3:5])
    with pytest.raises(NotImplementedError):
        dist.rsample()  # the Categorical part cannot be reparameterized


def test_multi_distribution_dict_and_nesting(ops, rnd):
    space = gym.spaces.Dict(
        {
            "move": gym.spaces.Box(-1.0, 1.0, (2,)),
            "fire": gym.spaces.Discrete(2),
            "extra": gym.spaces.Tuple([gym.spaces.MultiDiscrete([2, 2])]),
        }
    )
    cls = get_action_dist_cls(space)
    keys = list(space.spaces)  # gymnasium sorts the keys: extra, fire, move
    assert list(cls.child_classes) == keys == ["extra", "fire", "move"]
    assert cls.input_lens == {"extra": 4, "fire": 2, "move": 4}
    assert cls.required_input_dim(space) == 10
    logits = rnd.normal(size=(3, 10))
    dist = cls.from_logits(logits, ops=ops)
    actions = dist.sample(sample_shape=(5,), rng=0)
    assert set(actions) == {"move", "fire", "extra"}
    assert actions["move"].shape == (5, 3, 2)
    assert actions["fire"].shape == (5, 3)
    assert isinstance(actions["extra"], tuple) and actions["extra"][0].shape == (5, 3, 2)
    extra = MultiCategorical.for_nvec([2, 2]).from_logits(logits[:, 0:4], ops=ops)
    fire = Categorical.from_logits(logits[:, 4:6], ops=ops)
    move = DiagGaussian.from_logits(logits[:, 6:10], ops=ops)
    expected = (
        extra.logp(actions["extra"][0]) + fire.logp(actions["fire"]) + move.logp(actions["move"])
    )
    lp = dist.logp(actions)
    assert lp.shape == (5, 3)
    np.testing.assert_allclose(lp, expected, rtol=1e-10)
    np.testing.assert_allclose(
        dist.entropy(), extra.entropy() + fire.entropy() + move.entropy(), rtol=1e-10
    )
    greedy = dist.to_deterministic().sample()
    np.testing.assert_array_equal(greedy["move"], logits[:, 6:8])
    np.testing.assert_array_equal(greedy["fire"], logits[:, 4:6].argmax(-1))
    with pytest.raises(ValueError, match="expected a dict with the keys"):
        dist.logp((actions["move"],))


def test_for_children_validation(ops):
    with pytest.raises(ValueError, match="for_children expected"):
        MultiDistribution.for_children((Categorical,), (2, 3))
    with pytest.raises(ValueError, match="for_children expected"):
        MultiDistribution.for_children({"a": Categorical}, {"b": 2})
    with pytest.raises(ValueError, match="needs the child classes"):
        MultiDistribution.from_logits(np.zeros((1, 2)), ops=ops)
    cls = MultiDistribution.for_children((Categorical, Categorical), (2, 3))
    with pytest.raises(ValueError, match="last axis of 5"):
        cls.from_logits(np.zeros((1, 4)), ops=ops)


# ----------------------------------------------------------------------------------------
# Spaces -> classes


@pytest.mark.parametrize(
    "space, expected_cls, dim",
    [
        (gym.spaces.Discrete(5), Categorical, 5),
        (gym.spaces.Discrete(5, start=-2), Categorical, 5),
        (gym.spaces.Box(-1.0, 1.0, (3,)), DiagGaussian, 6),
        (gym.spaces.Box(-np.inf, np.inf, (1,), np.float64), DiagGaussian, 2),
    ],
)
def test_get_action_dist_cls_simple(space, expected_cls, dim):
    cls = get_action_dist_cls(space)
    assert cls is expected_cls
    assert cls.required_input_dim(space) == dim


def test_get_action_dist_cls_structured():
    md = gym.spaces.MultiDiscrete([2, 3, 4])
    cls = get_action_dist_cls(md)
    assert issubclass(cls, MultiCategorical) and cls.nvec == (2, 3, 4)
    assert cls.required_input_dim(md) == 9
    tup = gym.spaces.Tuple([gym.spaces.Discrete(2), gym.spaces.Box(-1.0, 1.0, (3,))])
    assert get_action_dist_cls(tup).required_input_dim(tup) == 8
    # The bare class computes the size from the space, too.
    assert MultiDistribution.required_input_dim(tup) == 8
    assert get_action_dist_cls(tup) is get_action_dist_cls(tup)  # cached


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.MultiBinary(3),
        gym.spaces.Text(5),
        gym.spaces.Box(0, 5, (2,), dtype=np.int64),
        None,
    ],
)
def test_get_action_dist_cls_rejects_other_spaces(space):
    with pytest.raises(ValueError, match=r"Expected a float Box.*received .*Fix:"):
        get_action_dist_cls(space)


def test_required_input_dim_rejects_wrong_space():
    with pytest.raises(ValueError, match="expected a gymnasium Discrete space"):
        Categorical.required_input_dim(gym.spaces.Box(-1, 1, (2,)))
    with pytest.raises(ValueError, match="expected a gymnasium Box space"):
        DiagGaussian.required_input_dim(gym.spaces.Discrete(2))


def test_distribution_is_abstract():
    with pytest.raises(TypeError):
        Distribution(ops=None)


# ----------------------------------------------------------------------------------------
# Pickling and backend resolution


def test_factory_classes_and_instances_pickle(ops, rnd):
    space = gym.spaces.Dict(
        {"a": gym.spaces.MultiDiscrete([2, 3]), "b": gym.spaces.Box(-1.0, 1.0, (2, 2))}
    )
    for cls in (
        get_action_dist_cls(space),
        SquashedGaussian.with_bounds(np.array([0.0, -1.0]), np.array([1.0, 1.0])),
        Categorical,
    ):
        assert pickle.loads(pickle.dumps(cls)) is cls
    dist = SquashedGaussian.with_bounds(0.0, 2.0).from_logits(rnd.normal(size=(2, 4)), ops=ops)
    restored = pickle.loads(pickle.dumps(dist))
    assert restored.ops is ops or restored.ops.__name__ == ops.__name__
    np.testing.assert_allclose(restored.logp(np.ones((2, 2))), dist.logp(np.ones((2, 2))))


def test_ops_none_resolves_through_registry():
    registry = pytest.importorskip("rlmodule_core.backend.registry")
    if not hasattr(registry, "ops_for_tensor"):
        pytest.skip("the registry has no ops_for_tensor yet")
    logits = np.array([[0.0, 1.0]], dtype=np.float32)
    dist = Categorical.from_logits(logits)
    assert dist.ops is registry.ops_for_tensor(logits)
    np.testing.assert_allclose(dist.logp(np.array([1])), special.log_softmax([0.0, 1.0])[1:])
