"""Forward passes through tf.function: retracing, keyword arguments, fallbacks, compile()."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from rlmodule_tf import backend, tf

import rlmodule_core as rlm
from rlmodule_core import Columns, RLModule
from rlmodule_core.modules import DefaultPPORLModule
from rlmodule_core.testing.modules import KwargsEcho, TinyPolicy

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)


def build(cls=TinyPolicy, **kwargs):
    return rlm.RLModuleSpec(module_class=cls, observation_space=OBS, action_space=ACT, framework="tf", **kwargs).build()


def obs(n=5, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 4)).astype(np.float32)


def logits(module, n=5, **kwargs):
    return module.forward_inference({Columns.OBS: obs(n)}, **kwargs)[Columns.ACTION_DIST_INPUTS].numpy()


class Counting(RLModule):
    """Counts how often its Python forward runs (once per trace when compiled).

    It appends to a list instead of assigning an attribute: an assignment would make the
    module run eagerly (rlmodule_core.backend.compiling), which is tested in the suite.
    """

    def setup(self):
        self.head = self.nn.Dense(4, 2)
        self.runs = {"calls": 0}

    def _forward(self, batch, **kwargs):
        self.runs["calls"] += 1
        return {"out": self.head(batch[Columns.OBS])}


class Branchy(RLModule):
    """Python control flow on a tensor value: runs eagerly only."""

    def setup(self):
        self.head = self.nn.Dense(4, 2)

    def _forward(self, batch, **kwargs):
        x = batch[Columns.OBS]
        if self.ops.to_numpy(self.ops.sum(x)) > 0:
            x = -x
        return {"out": self.head(x)}


class ShapeAware(RLModule):
    """Compares a shape in Python: needs static shapes, so it is traced once per shape."""

    def setup(self):
        self.head = self.nn.Dense(4, 2)

    def _forward(self, batch, **kwargs):
        x = batch[Columns.OBS]
        scale = 2.0 if self.ops.shape(x)[0] == 1 else 1.0
        return {"out": self.head(x) * scale}


def test_code_that_needs_static_shapes_stays_compiled():
    module = build(ShapeAware)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in (1, 2, 3, 1):
            out = module.forward_inference({Columns.OBS: obs(n)})["out"].numpy()
            np.testing.assert_allclose(out, module.head(obs(n)).numpy() * (2.0 if n == 1 else 1.0), atol=1e-6)
    assert not module._tf.eager_phases
    assert module._tf.function("_forward_inference").experimental_get_tracing_count() == 3


def test_retracing_is_bounded_when_the_batch_size_varies():
    module = build()
    for n in (1, 2, 3, 7, 16, 5):
        assert logits(module, n).shape == (n, 3)
    assert module._tf.function("_forward_inference").experimental_get_tracing_count() <= 2


def test_recurrent_forward_matches_numpy_when_sequence_lengths_vary():
    config = {"fcnet_hiddens": [8], "use_lstm": True, "lstm_cell_size": 4}
    module = build(DefaultPPORLModule, model_config=config)
    reference = rlm.RLModuleSpec(
        module_class=DefaultPPORLModule, observation_space=OBS, action_space=ACT, framework="numpy",
        model_config=config,
    ).build()
    reference.set_state(module.get_state())
    rng = np.random.default_rng(0)
    for b, t in [(2, 3), (1, 5), (3, 2), (2, 6)]:  # the third call traces with T unknown
        batch = {
            Columns.OBS: rng.uniform(-1, 1, (b, t, 4)).astype(np.float32),
            Columns.STATE_IN: {"h": rng.normal(size=(b, 4)), "c": rng.normal(size=(b, 4))},
        }
        got, want = module.forward_inference(batch), reference.forward_inference(batch)
        np.testing.assert_allclose(got[Columns.ACTION_DIST_INPUTS].numpy(), want[Columns.ACTION_DIST_INPUTS], atol=1e-5)
        np.testing.assert_allclose(got[Columns.STATE_OUT]["c"].numpy(), want[Columns.STATE_OUT]["c"], atol=1e-5)
    assert module._tf.function("_forward_inference").experimental_get_tracing_count() == 2


def test_numeric_kwargs_are_traced_and_static_ones_retrace_per_value():
    module = build(KwargsEcho)
    batch = {Columns.OBS: obs(2)}
    for t in range(5):
        out = module.forward_inference(batch, t=t)
        assert int(out["kwargs"]["t"]) == t and out["phase"] == "inference"  # the str is kept
    function = module._tf.function("_forward_inference", with_kwargs=True)
    assert function.experimental_get_tracing_count() == 1
    for explore in (True, False, True):
        out = module.forward_exploration(batch, explore=explore)
        assert out["kwargs"] == {"explore": explore} and out["phase"] == "generic"
    assert module._tf.function("_forward_exploration", with_kwargs=True).experimental_get_tracing_count() == 2
    assert not module._tf.eager_phases


def test_a_forward_that_cannot_be_traced_runs_eagerly_with_one_warning():
    module = build(Branchy)
    batch = {Columns.OBS: obs(3)}
    want = module.head(-obs(3) if obs(3).sum() > 0 else obs(3)).numpy()
    with pytest.warns(RuntimeWarning, match="cannot run under tf.function"):
        out = module.forward_inference(batch)
    np.testing.assert_allclose(out["out"].numpy(), want, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(module.forward_inference(batch)["out"].numpy(), want, atol=1e-6)
    assert module._tf.eager_phases == {"_forward_inference"}


def test_errors_that_happen_eagerly_too_are_raised_and_keep_the_phase_compiled():
    module = build()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
            module.forward_inference({Columns.OBS: np.zeros((2, 7), np.float32)})
    assert not module._tf.eager_phases
    assert logits(module).shape == (5, 3)


def test_compiled_forwards_run_the_python_code_only_when_tracing():
    module = build(Counting)
    for _ in range(4):
        module.forward_inference({Columns.OBS: obs()})
    assert module.runs["calls"] == 1
    tf.config.run_functions_eagerly(True)
    try:
        module.forward_inference({Columns.OBS: obs()})
    finally:
        tf.config.run_functions_eagerly(False)
    assert module.runs["calls"] == 2


def test_compile_options_and_state_sync():
    module, other = build(), build()
    eager = logits(module)
    assert backend.compile(module, jit_compile=True) is module
    np.testing.assert_allclose(logits(module), eager, atol=1e-5)
    module.set_state(other.get_state())
    np.testing.assert_allclose(logits(module), logits(other), atol=1e-5)
    clone = pickle.loads(pickle.dumps(module))  # compile options travel with the module
    assert clone._tf.options["jit_compile"] and clone._tf.compile_train
    np.testing.assert_allclose(logits(clone), logits(module), atol=1e-6)
    with pytest.raises(TypeError, match="unknown options \\['fullgraph'\\]"):
        backend.compile(module, fullgraph=True)
    with pytest.raises(TypeError, match="compiles TfRLModules"):
        backend.compile(object())


def test_compiled_forward_train_gives_gradients():
    module = backend.compile(build())
    batch = {Columns.OBS: obs()}
    with tf.GradientTape() as tape:
        out = module.forward_train(batch)
        loss = tf.reduce_sum(out[Columns.ACTION_DIST_INPUTS] ** 2) + tf.reduce_sum(out[Columns.EMBEDDINGS])
    grads = tape.gradient(loss, module.trainable_variables)
    assert module._tf.function("_forward_train") is not None
    assert sum(g is not None for g in grads) == 6  # the encoder and pi; vf is not used


def test_compile_covers_every_module_of_a_multi_rl_module():
    spec = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT, framework="tf")
    multi = rlm.MultiRLModuleSpec(rl_module_specs={"a": spec, "b": spec}).build()
    assert backend.compile(multi, train=False) is multi
    assert all(m._tf.options["reduce_retracing"] and not m._tf.compile_train for m in multi.values())
    multi.forward_train({"a": {Columns.OBS: obs()}})
    assert multi["a"]._tf.function("_forward_train") is None  # train stays eager


def test_replacing_a_layer_retraces():
    module = build()
    before = logits(module)
    module.pi = module.nn.Dense(16, 3, bias_initializer={"name": "constant", "value": 5.0})
    after = logits(module)
    assert after.shape == (5, 3) and not np.allclose(before, after)
    np.testing.assert_allclose(after, module.pi(module.encoder(obs())).numpy(), atol=1e-6)
