"""Action distribution classes without a backend: spaces -> classes, validation, pickling.

The values of every distribution on every backend (closed forms, sampling, shapes) are
checked by the shipped suite, rlmodule_core.testing.test_distributions; this file keeps
what needs no tensors, and what is particular to NumPy arrays.
"""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from rlmodule_numpy import ops

from rlmodule_core.backend import registry
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


def test_numpy_arrays_resolve_to_the_numpy_ops():
    logits = np.array([[0.0, 1.0]], dtype=np.float32)
    dist = Categorical.from_logits(logits)
    assert dist.ops is registry.ops_for_tensor(logits) is ops
    np.testing.assert_allclose(dist.logp(np.array([1])), [-np.log1p(np.exp(-1.0))], rtol=1e-6)


def test_an_int_seed_draws_like_a_generator_of_that_seed():
    dist = Categorical.from_logits(np.zeros((64, 10)), ops=ops)
    np.testing.assert_array_equal(dist.sample(rng=5), dist.sample(rng=ops.rng(5)))
    g = ops.rng(5)
    np.testing.assert_array_equal(dist.sample(rng=g), dist.sample(rng=5))


def test_class_attributes_from_spaces():
    box = gym.spaces.Box(-1.0, 1.0, (2, 3))
    cls = get_action_dist_cls(box)
    assert issubclass(cls, DiagGaussian) and cls.action_shape == (2, 3)
    assert cls.required_input_dim(box) == 12
    assert get_action_dist_cls(gym.spaces.Box(-1.0, 1.0, ())).required_input_dim(gym.spaces.Box(-1.0, 1.0, ())) == 2
    assert Deterministic.required_input_dim(gym.spaces.Box(0, 1, (2, 3))) == 6
    md = gym.spaces.MultiDiscrete([[2, 3], [4, 5]])
    assert get_action_dist_cls(md) is MultiCategorical.for_nvec(md.nvec)
    assert get_action_dist_cls(md).required_input_dim(md) == 14
    with pytest.raises(ValueError, match="integers >= 1"):
        MultiCategorical.for_nvec([2, 0])
    tup = gym.spaces.Tuple([gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (2,))])
    cls = get_action_dist_cls(tup)
    assert issubclass(cls, MultiDistribution)
    assert cls.child_classes == (Categorical, DiagGaussian) and cls.input_lens == (3, 4)
    assert cls.required_input_dim(tup) == 7
    nested = gym.spaces.Dict(
        {
            "move": gym.spaces.Box(-1.0, 1.0, (2,)),
            "fire": gym.spaces.Discrete(2),
            "extra": gym.spaces.Tuple([gym.spaces.MultiDiscrete([2, 2])]),
        }
    )
    cls = get_action_dist_cls(nested)
    keys = list(nested.spaces)  # gymnasium sorts the keys: extra, fire, move
    assert list(cls.child_classes) == keys == ["extra", "fire", "move"]
    assert cls.input_lens == {"extra": 4, "fire": 2, "move": 4}
    assert cls.required_input_dim(nested) == 10


def test_with_bounds_validation_and_caching():
    space = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 5.0], np.float32))
    cls = SquashedGaussian.with_bounds(space.low, space.high)
    assert cls is SquashedGaussian.with_bounds(space.low, space.high)
    assert cls.action_shape == (2,)
    uniform = SquashedGaussian.with_bounds(np.full(3, -2.0), np.full(3, 2.0))
    assert uniform.low == -2.0 and uniform.high == 2.0 and uniform.action_shape == (3,)
    with pytest.raises(ValueError, match="low < high"):
        SquashedGaussian.with_bounds(1.0, 1.0)
    with pytest.raises(ValueError, match="infinite bounds"):
        SquashedGaussian.with_bounds(-np.inf, np.inf)


def test_for_children_validation():
    with pytest.raises(ValueError, match="for_children expected"):
        MultiDistribution.for_children((Categorical,), (2, 3))
    with pytest.raises(ValueError, match="for_children expected"):
        MultiDistribution.for_children({"a": Categorical}, {"b": 2})


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


def test_factory_classes_and_instances_pickle():
    rnd = np.random.default_rng(1234)
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
