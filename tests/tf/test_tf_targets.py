"""Target networks on TF: frozen independent copies of neutral and native layers."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from rlmodule_tf import keras, make_target_network, tf, update_target_network
from rlmodule_tf.state import named_state

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.modules import DefaultDQNRLModule, DefaultPPORLModule
from rlmodule_core.testing.modules import QWithTarget

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)


def build(cls, **kwargs):
    return rlm.RLModuleSpec(module_class=cls, observation_space=OBS, action_space=ACT, framework="tf", **kwargs).build()


def values(layer):
    return {k: v.numpy() for k, v in named_state(layer).items()}


def assert_frozen_copy(main, target):
    main_vars, target_vars = named_state(main), named_state(target)
    assert main_vars.keys() == target_vars.keys() and main_vars
    assert not {id(v) for v in main_vars.values()} & {id(v) for v in target_vars.values()}
    for key in main_vars:
        np.testing.assert_array_equal(main_vars[key].numpy(), target_vars[key].numpy())
    assert not target.trainable and target.trainable_variables == []


def test_targets_are_frozen_and_left_out_of_the_trainable_variables():
    module = build(QWithTarget)
    trainable = len(module.trainable_variables)
    module.make_target_networks()
    assert_frozen_copy(module.qf, module._target_qf)
    assert len(module.trainable_variables) == trainable
    assert len(module.weights) == 2 * trainable
    batch = {Columns.OBS: np.ones((2, 4), np.float32)}
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(module.forward_target(batch)["qf_preds"]) + tf.reduce_sum(
            module.forward_train(batch)["qf_preds"]
        )
    assert all(g is not None for g in tape.gradient(loss, module.trainable_variables))


def test_blocks_built_from_other_blocks_copy_deeply():
    module = build(DefaultPPORLModule, model_config={"fcnet_hiddens": [8]})
    target = make_target_network(module.encoder)  # Encoder(features, config): a block argument
    assert type(target) is type(module.encoder)
    assert_frozen_copy(module.encoder, target)
    assert target.features is not module.encoder.features
    x = np.ones((3, 4), np.float32)
    np.testing.assert_allclose(target(x).numpy(), module.encoder(x).numpy())
    clone = pickle.loads(pickle.dumps(module.encoder))  # a block pickles on its own too
    assert clone.trainable and type(clone) is type(module.encoder)
    np.testing.assert_allclose(clone(x).numpy(), module.encoder(x).numpy())


def test_polyak_update_of_a_default_dqn_module():
    module = build(DefaultDQNRLModule, model_config={"fcnet_hiddens": [8]})
    module.make_target_networks()
    for main, target in module.get_target_network_pairs():
        for variable in named_state(main).values():
            variable.assign(variable + 1.0)
        before = values(target)
        update_target_network(main, target, 0.25)
        after, source = values(target), values(main)
        for key in before:
            np.testing.assert_allclose(after[key], 0.25 * source[key] + 0.75 * before[key], rtol=1e-6)
    with pytest.raises(ValueError, match="tau in \\[0, 1\\]"):
        update_target_network(main, target, 1.5)
    with pytest.raises(ValueError, match="different parameters"):
        update_target_network(module.encoder, target, 1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: keras.layers.Dense(3),
        lambda: keras.Sequential([keras.layers.Dense(5, activation="relu"), keras.layers.LayerNormalization(), keras.layers.Dense(2)]),
    ],
)
def test_native_keras_layers(make):
    layer = make()
    layer.build((None, 4))
    target = make_target_network(layer)
    assert type(target) is type(layer)
    assert_frozen_copy(layer, target)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    np.testing.assert_allclose(target(x).numpy(), layer(x).numpy(), atol=1e-6)
    for variable in layer.trainable_variables:
        variable.assign(variable * 0.0)
    update_target_network(layer, target, 1.0)
    np.testing.assert_allclose(target(x).numpy(), layer(x).numpy(), atol=1e-6)


def test_make_target_network_rejects_non_layers():
    with pytest.raises(TypeError, match="expects a Keras layer"):
        make_target_network(np.zeros(3))
