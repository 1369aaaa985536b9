"""TfRLModule as a Keras model: variables, optimizers, gradients, native layers, slimming."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from rlmodule_tf import TfRLModule, keras, tf
from rlmodule_tf.state import named_state
from tf_test_modules import NativePolicy

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.modules import DefaultPPORLModule
from rlmodule_core.testing.modules import TinyPolicy

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)


def build(cls=TinyPolicy, **kwargs):
    return rlm.RLModuleSpec(module_class=cls, observation_space=OBS, action_space=ACT, framework="tf", **kwargs).build()


def obs(n=5, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 4)).astype(np.float32)


def test_module_is_a_keras_model_whose_variables_are_the_state():
    module = build()
    assert isinstance(module, keras.Model) and isinstance(module, TfRLModule)
    state = module.get_state()
    assert len(module.trainable_variables) == len(module.weights) == len(state)
    live = named_state(module)
    assert {id(v) for v in live.values()} == {id(v) for v in module.trainable_variables}
    for key, variable in live.items():
        np.testing.assert_array_equal(variable.numpy(), state[key])
    lines = []
    module.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    total = sum(v.size for v in state.values())
    assert any(f"Total params: {total}" in line for line in lines)


def test_keras_optimizer_step_changes_every_weight():
    module = build()
    before = module.get_state()
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    batch = {Columns.OBS: obs()}
    with tf.GradientTape() as tape:
        out = module.forward_train(batch)
        loss = tf.reduce_mean(tf.square(out[Columns.ACTION_DIST_INPUTS])) + tf.reduce_mean(
            tf.square(module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS]) - 1.0)
        )
    grads = tape.gradient(loss, module.trainable_variables)
    optimizer.apply_gradients(zip(grads, module.trainable_variables))
    after = module.get_state()
    assert all(not np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("share", [True, False])
def test_logp_gradients_reach_every_trainable_variable_of_default_ppo(share):
    module = build(DefaultPPORLModule, model_config={"fcnet_hiddens": [16, 16], "vf_share_layers": share})
    batch = {Columns.OBS: obs(8)}
    actions = np.arange(8) % ACT.n
    keys = {id(v): k for k, v in named_state(module).items()}
    with tf.GradientTape(persistent=True) as tape:
        out = module.forward_train(batch)
        dist = module.get_train_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
        policy_loss = -tf.reduce_mean(dist.logp(actions))
        loss = policy_loss + tf.reduce_mean(tf.square(module.compute_values(batch)))
    grads = tape.gradient(loss, module.trainable_variables)
    assert len(grads) == len(module.get_state())
    for variable, grad in zip(module.trainable_variables, grads):
        assert grad is not None and np.any(grad.numpy() != 0.0), keys[id(variable)]
    # The policy loss alone reaches the encoder and the policy head, not the value head.
    policy_grads = tape.gradient(policy_loss, module.trainable_variables)
    reached = {keys[id(v)].split(".")[0] for v, g in zip(module.trainable_variables, policy_grads) if g is not None}
    assert reached == {"encoder", "pi"}


def test_state_writes_in_place_and_batches_are_converted():
    module = build()
    variables = list(module.trainable_variables)
    state = {k: v + 0.5 for k, v in module.get_state().items()}
    module.set_state(state)
    assert all(a is b for a, b in zip(variables, module.trainable_variables))
    np.testing.assert_allclose(variables[0].numpy(), state[named_variables_key(module, variables[0])])
    as64 = module.forward_inference({Columns.OBS: obs().astype(np.float64)})[Columns.ACTION_DIST_INPUTS]
    as32 = module.forward_inference({Columns.OBS: obs()})[Columns.ACTION_DIST_INPUTS]
    assert as64.dtype == tf.float32
    np.testing.assert_allclose(as64.numpy(), as32.numpy(), atol=1e-6)


def test_set_state_writes_the_live_buffers_the_compiled_forward_and_optimizer_read():
    module, other = build(), build(model_config={"seed": 7})
    batch = {Columns.OBS: obs()}
    module.forward_inference(batch)  # traced: the tf.function holds the variables, not values
    state = other.get_state()
    module.set_state(state)
    np.testing.assert_allclose(module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].numpy(),
                               other.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].numpy(), atol=1e-6)
    expected = state["pi.kernel"].copy()
    for array in state.values():
        array += 1.0  # the module holds copies, not the caller's arrays
    np.testing.assert_array_equal(module.get_state()["pi.kernel"], expected)
    out = {k: np.zeros_like(v) for k, v in state.items()}
    assert module.get_state(out=out)["pi.kernel"] is out["pi.kernel"]
    np.testing.assert_array_equal(out["pi.kernel"], expected)
    # A Keras optimizer step after the write starts from the written values.
    kernel = named_state(module)["pi.kernel"]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(module.forward_train(batch)[Columns.ACTION_DIST_INPUTS])
    grad = tape.gradient(loss, kernel)
    keras.optimizers.SGD(learning_rate=0.1).apply_gradients([(grad, kernel)])
    np.testing.assert_allclose(module.get_state()["pi.kernel"], expected - 0.1 * grad.numpy(), rtol=1e-6, atol=1e-6)


def named_variables_key(module, variable):
    return next(k for k, v in named_state(module).items() if v is variable)


def test_keras_style_call_runs_the_phases():
    module = build()
    batch = {Columns.OBS: obs()}
    np.testing.assert_allclose(
        module(batch)[Columns.ACTION_DIST_INPUTS].numpy(),
        module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].numpy(),
        atol=1e-6,
    )
    assert Columns.EMBEDDINGS in module(batch, training=True)


def test_inference_only_untracks_the_removed_layers():
    full, slim = build(), build(inference_only=True)
    assert len(full.weights) == 8
    assert len(slim.weights) == len(slim.trainable_variables) == len(slim.get_state()) == 6
    assert all(layer is not None for layer in slim.layers) and len(slim.layers) == 2
    slim.set_state(full.get_state())
    np.testing.assert_allclose(
        slim.forward_inference({Columns.OBS: obs()})[Columns.ACTION_DIST_INPUTS].numpy(),
        full.forward_inference({Columns.OBS: obs()})[Columns.ACTION_DIST_INPUTS].numpy(),
        atol=1e-6,
    )


def test_shared_layers_are_listed_once():
    module = build()
    module.pi_alias = module.pi
    assert [k for k in module.get_state() if k.endswith("kernel")] == [
        "encoder.net.layers.0.kernel", "encoder.net.layers.1.kernel", "pi.kernel", "vf.kernel",
    ]


# ---- native modules ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def native():
    return NativePolicy(observation_space=OBS, action_space=ACT)


def test_native_module_state_keys_are_attribute_paths(native):
    shapes = {k: v.shape for k, v in native.get_state().items()}
    assert shapes == {
        "log_std": (2,),
        "trunk.layers.0.kernel": (4, 8), "trunk.layers.0.bias": (8,),
        "trunk.layers.2.gamma": (8,), "trunk.layers.2.beta": (8,),
        "trunk.layers.2.moving_mean": (8,), "trunk.layers.2.moving_variance": (8,),
        "pi.kernel": (8, 3), "pi.bias": (3,),
    }
    assert len(native.trainable_variables) == 7  # the moving statistics are not trainable
    other = NativePolicy(observation_space=OBS, action_space=ACT)
    other.set_state(native.get_state())  # two builds agree on their keys
    assert all(np.array_equal(a, b) for a, b in zip(other.get_state().values(), native.get_state().values()))


def test_native_layers_see_the_training_flag(native):
    batch = {Columns.OBS: obs(6)}
    first = native.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].numpy()
    np.testing.assert_array_equal(first, native.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].numpy())
    moving_mean = native.get_state()["trunk.layers.2.moving_mean"]
    train = native.forward_train(batch)[Columns.ACTION_DIST_INPUTS].numpy()  # dropout, batch statistics
    assert not np.allclose(train, first)
    assert not np.array_equal(native.get_state()["trunk.layers.2.moving_mean"], moving_mean)


def test_native_module_pickles_and_checkpoints(native, tmp_path):
    batch = {Columns.OBS: obs(3)}
    native.make_target_networks()
    want = native.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].numpy()
    clone = pickle.loads(pickle.dumps(native))
    assert type(clone) is NativePolicy and "_target_pi.kernel" in clone.get_state()
    np.testing.assert_allclose(clone.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].numpy(), want, atol=1e-6)
    native.save_to_path(tmp_path / "native")
    restored = rlm.RLModule.from_checkpoint(tmp_path / "native")
    assert type(restored) is NativePolicy
    np.testing.assert_allclose(restored.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].numpy(), want, atol=1e-6)
    with pytest.raises(ValueError, match="native 'tf' module"):
        rlm.RLModule.from_checkpoint(tmp_path / "native", framework="numpy")


def test_variables_with_one_name_in_one_layer_are_rejected():
    class Ambiguous(TfRLModule):
        def setup(self):
            self.a = self.add_weight(shape=(1,), name="w")
            self.b = self.add_weight(shape=(1,), name="w")

    with pytest.raises(ValueError, match="both named 'w'"):
        Ambiguous(observation_space=OBS, action_space=ACT).get_state()
