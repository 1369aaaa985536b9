"""Fast paths of the batch-1 forward pass keep the general path's results (NumPy, PPO).

The fast paths (``docs/performance.md``, issue 18) skip work only when it would change
nothing; these tests feed the inputs they must not swallow: float64 and non-array
leaves, nested and non-dict batches, non-native dtypes, copies and pickles.
"""

from __future__ import annotations

import collections
import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest
from rlmodule_numpy import nn as np_nn
from rlmodule_numpy import ops as np_ops
from rlmodule_numpy.module import convert_batch

from rlmodule_core import Columns, RLModuleSpec
from rlmodule_core.modules import DefaultPPORLModule

OBS = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)


def _ppo(action_space: gym.Space | None = None, **config) -> DefaultPPORLModule:
    return RLModuleSpec(
        module_class=DefaultPPORLModule, framework="numpy",
        observation_space=gym.spaces.Box(-1, 1, (4,), np.float32),
        action_space=gym.spaces.Discrete(2) if action_space is None else action_space,
        model_config={"fcnet_hiddens": [8, 8], "seed": 1, **config},
    ).build()


# ---- batch conversion --------------------------------------------------------------------


def test_a_flat_float32_batch_is_returned_as_it_is():
    batch = {Columns.OBS: OBS, "mask": np.ones(3, np.float32)}
    assert convert_batch(batch) is batch


@pytest.mark.parametrize("other", [np.ones(3, np.float64), np.ones((2, 1), np.float64), np.full((), 2.5)])
def test_a_float64_leaf_among_float32_ones_is_converted(other):
    batch = {Columns.OBS: OBS, "other": other}
    out = convert_batch(batch)
    assert out is not batch and out[Columns.OBS] is OBS
    assert isinstance(out["other"], np.ndarray) and out["other"].dtype == np.float32
    np.testing.assert_array_equal(out["other"], np.asarray(other, np.float32))
    assert batch["other"] is other  # the caller's batch is not modified


def test_leaves_the_general_path_keeps_are_kept():
    swapped = np.ones(3, np.dtype(">f4"))  # not float64: kept, as the general walk does
    batch = {Columns.OBS: OBS, "swapped": swapped, "floats": [1.0, 2.0]}
    out = convert_batch(batch)
    assert out["swapped"] is swapped and out["floats"] == [1.0, 2.0]


def test_integer_arrays_and_python_scalars_are_kept():
    batch = {"ints": np.arange(3), "scale": 0.5, "name": "a"}
    out = convert_batch(batch)
    assert out["ints"] is batch["ints"] and out["scale"] == 0.5 and out["name"] == "a"


def test_nested_and_non_dict_batches_still_convert():
    nested = {Columns.OBS: {"a": np.zeros((2, 3)), "b": (np.ones(2, np.float32), [np.zeros(1)])}}
    out = convert_batch(nested)
    assert out[Columns.OBS]["a"].dtype == np.float32
    assert out[Columns.OBS]["b"][0] is nested[Columns.OBS]["b"][0]
    assert type(out[Columns.OBS]["b"]) is tuple and out[Columns.OBS]["b"][1][0].dtype == np.float32
    ordered = collections.OrderedDict(obs=np.zeros((1, 4)))
    out = convert_batch(ordered)
    assert type(out) is collections.OrderedDict and out["obs"].dtype == np.float32


def test_a_float64_batch_gives_the_float32_batchs_outputs():
    module = _ppo()
    want = module.forward_inference({Columns.OBS: OBS})[Columns.ACTION_DIST_INPUTS]
    for obs in (OBS.astype(np.float64), OBS.tolist()):
        got = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-6)


# ---- ops and layers ----------------------------------------------------------------------------


def test_cast_returns_a_float32_array_itself_and_converts_the_rest():
    assert np_ops.cast(OBS, "float32") is OBS
    swapped = OBS.astype(">f4")
    out = np_ops.cast(swapped, "float32")
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, OBS)
    assert np_ops.cast(OBS.astype(np.float64), "float32").dtype == np.float32
    assert np_ops.cast(OBS, "int64").dtype == np.int64


@pytest.mark.parametrize("activation", [None, "tanh", "relu"])
def test_dense_computes_its_closed_form(activation):
    layer = np_nn.Dense(4, 3, activation=activation, bias_initializer={"name": "constant", "value": 0.3})
    y = OBS @ layer.kernel + layer.bias
    want = {None: y, "tanh": np.tanh(y), "relu": np.maximum(y, 0)}[activation]
    np.testing.assert_allclose(layer(OBS), want, rtol=1e-6)


def test_layers_and_modules_keep_their_attributes_through_copies_and_pickles():
    module = _ppo()
    want = module.forward_train({Columns.OBS: OBS})
    module.get_state()  # walks vars() of every layer
    for other in (copy.deepcopy(module), pickle.loads(pickle.dumps(module))):
        got = other.forward_train({Columns.OBS: OBS})
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
        assert sorted(other.get_state()) == sorted(module.get_state())
        other.encoder.extra = 1  # attributes can still be added and removed
        del other.encoder.extra
        assert not hasattr(other.encoder, "extra")


# ---- the feed-forward PPO passes ------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False])
def test_ppo_train_outputs_are_the_policy_logits_and_the_critics_features(shared):
    module = _ppo(vf_share_layers=shared)
    out = module.forward_train({Columns.OBS: OBS})
    np.testing.assert_allclose(out[Columns.ACTION_DIST_INPUTS], module.pi(module.encoder(OBS)), rtol=1e-6)
    critic = module.encoder if shared else module.vf_encoder
    np.testing.assert_allclose(out[Columns.EMBEDDINGS], critic(OBS), rtol=1e-6)
    values = module.compute_values({Columns.OBS: OBS}, out[Columns.EMBEDDINGS])
    np.testing.assert_allclose(values, module.compute_values({Columns.OBS: OBS}), rtol=1e-6)
    inference = module.forward_inference({Columns.OBS: OBS})
    assert list(inference) == [Columns.ACTION_DIST_INPUTS]


@pytest.mark.parametrize("free_log_std", [False, True])
def test_ppo_gaussian_inputs_are_the_mean_and_the_clipped_log_std(free_log_std):
    module = _ppo(gym.spaces.Box(-1, 1, (2,), np.float32), free_log_std=free_log_std, log_std_clip_param=0.001)
    for phase in ("forward_inference", "forward_exploration", "forward_train"):
        out = getattr(module, phase)({Columns.OBS: OBS})[Columns.ACTION_DIST_INPUTS]
        head = module.pi(module.encoder(OBS))
        mean = head if free_log_std else head[:, :2]
        log_std = np.broadcast_to(module.log_std.bias, (3, 2)) if free_log_std else head[:, 2:]
        np.testing.assert_allclose(out, np.concatenate([mean, np.clip(log_std, -0.001, 0.001)], -1), rtol=1e-6)
