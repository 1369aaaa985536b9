"""Compiled forward passes: jax.jit of a pure function of the module's split state."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from rlmodule_jax import JaxRLModule, ops

import rlmodule_core as rlm
from rlmodule_core import Columns, RLModule
from rlmodule_core.testing.modules import QWithTarget, TinyPolicy

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)
BACKEND = rlm.get_backend("jax")
TRACES: list[str] = []


def build(cls, **config):
    return rlm.RLModuleSpec(
        module_class=cls, observation_space=OBS, action_space=ACT, model_config=config, framework="jax"
    ).build()


def obs_batch(n=4, seed=0):
    return {Columns.OBS: np.random.default_rng(seed).uniform(-1, 1, (n, 4)).astype(np.float32)}


def logits(out):
    return np.asarray(out[Columns.ACTION_DIST_INPUTS])


class Counting(RLModule):
    """Records a Python side effect each time its forward runs in Python (i.e. is traced)."""

    def setup(self):
        self.pi = self.nn.Dense(4, 3)

    def _forward(self, batch, scale=1.0, flip=False, **kwargs):
        TRACES.append("trace")
        out = self.pi(batch[Columns.OBS]) * scale
        return {Columns.ACTION_DIST_INPUTS: -out if flip else out}


class Sampling(RLModule):
    """Draws noise with rng=None (the default generator) inside its exploration pass."""

    def setup(self):
        self.pi = self.nn.Dense(4, 3)

    def _forward_exploration(self, batch, **kwargs):
        noise = self.ops.uniform(kwargs.get("rng"), (self.ops.shape(batch[Columns.OBS])[0], 3))
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS]) + noise}

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}


class ValueBranch(RLModule):
    """Python control flow on an array value: not traceable."""

    def setup(self):
        self.pi = self.nn.Dense(4, 3)

    def _forward(self, batch, **kwargs):
        out = self.pi(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: out if float(self.ops.sum(out)) > 0 else -out}


class WithBatchNorm(JaxRLModule):
    """A native module whose train pass updates variables (batch statistics)."""

    def setup(self):
        self.linear = nnx.Linear(4, 3, rngs=self.rngs)
        self.norm = nnx.BatchNorm(3, rngs=self.rngs)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.norm(self.linear(batch[Columns.OBS]))}


def test_forward_is_traced_once_per_batch_shape():
    module = build(Counting, seed=0)
    TRACES.clear()
    for _ in range(5):
        module.forward_inference(obs_batch(4))
    assert len(TRACES) == 1
    module.forward_inference(obs_batch(7))
    module.forward_inference(obs_batch(4, seed=1))
    assert len(TRACES) == 2


def test_numbers_are_traced_and_flags_are_static():
    module = build(Counting, seed=0)
    b = obs_batch()
    TRACES.clear()
    base = logits(module.forward_inference(b, scale=1.0))
    doubled = logits(module.forward_inference(b, scale=2.0))
    np.testing.assert_allclose(doubled, 2 * base, rtol=1e-6)
    assert len(TRACES) == 1  # a new number does not re-trace
    np.testing.assert_allclose(logits(module.forward_inference(b, flip=True)), -base, rtol=1e-6)
    module.forward_inference(b, flip=True)
    assert len(TRACES) == 2  # a bool is static: one trace per value


def test_static_kwargs_option_makes_numbers_static():
    module = BACKEND.compile(build(Counting, seed=0), static_kwargs=("scale",))
    TRACES.clear()
    module.forward_inference(obs_batch(), scale=1.0)
    module.forward_inference(obs_batch(), scale=2.0)
    assert len(TRACES) == 2


def test_jit_false_runs_eagerly():
    module = BACKEND.compile(build(Counting, seed=0), jit=False)
    TRACES.clear()
    for _ in range(3):
        module.forward_inference(obs_batch())
    assert len(TRACES) == 3


def test_set_state_after_compiled_calls_changes_outputs():
    module, other = build(TinyPolicy, seed=0), build(TinyPolicy, seed=1)
    b = obs_batch()
    module.forward_inference(b)
    module.set_state(other.get_state())
    np.testing.assert_allclose(logits(module.forward_inference(b)), logits(other.forward_inference(b)), atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(module.forward_train(b)[Columns.EMBEDDINGS]),
        np.asarray(other.forward_train(b)[Columns.EMBEDDINGS]),
        atol=1e-6,
    )


def test_new_attributes_after_compile_are_seen():
    module = build(QWithTarget, seed=0)
    b = obs_batch()
    before = np.asarray(module.forward_inference(b)["qf_preds"])
    module.make_target_networks()  # assigns an attribute: the split is redone
    state = module.get_state()
    module.set_state({k: (v * 0.0 if k.startswith("qf.") else v) for k, v in state.items()})
    np.testing.assert_allclose(np.asarray(module.forward_inference(b)["qf_preds"]), 0.0)
    np.testing.assert_allclose(np.asarray(module.forward_target(b)["qf_preds"]), before, atol=1e-6)


def test_default_generator_gives_fresh_noise_per_compiled_call():
    module = build(Sampling, seed=0)
    b = obs_batch()
    first, second = logits(module.forward_exploration(b)), logits(module.forward_exploration(b))
    assert not np.allclose(first, second)
    key = jax.random.key(3)
    np.testing.assert_array_equal(
        logits(module.forward_exploration(b, rng=key)), logits(module.forward_exploration(b, rng=key))
    )
    stream = ops.rng(0)
    assert not np.allclose(
        logits(module.forward_exploration(b, rng=stream)), logits(module.forward_exploration(b, rng=stream))
    )
    seeded_eager = BACKEND.compile(build(Sampling, seed=0), jit=False)
    np.testing.assert_allclose(
        logits(module.forward_exploration(b, rng=5)), logits(seeded_eager.forward_exploration(b, rng=5)), atol=1e-6
    )


def test_untraceable_forward_falls_back_to_eager_with_one_warning():
    module = build(ValueBranch, seed=0)
    eager = BACKEND.compile(build(ValueBranch, seed=0), jit=False)
    b = obs_batch()
    with pytest.warns(UserWarning, match="could not be compiled"):
        out = logits(module.forward_inference(b))
    np.testing.assert_allclose(out, logits(eager.forward_inference(b)), atol=1e-6)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module.forward_inference(b)


def test_errors_that_also_happen_eagerly_are_raised():
    module = build(TinyPolicy, seed=0)
    with pytest.raises((TypeError, ValueError)):
        module.forward_inference({Columns.OBS: np.zeros((2, 5), np.float32)})
    assert logits(module.forward_inference(obs_batch())).shape == (4, 3)  # still compiled and working


def test_variables_updated_by_a_compiled_pass_are_written_back():
    module = build(WithBatchNorm, seed=0)
    b = obs_batch(8)
    before = module.get_state()
    module.forward_inference(b)
    assert all(np.array_equal(v, before[k]) for k, v in module.get_state().items())
    module.forward_train(b)
    after = module.get_state()
    assert not np.allclose(after["norm.mean"], before["norm.mean"])  # running statistics moved
    np.testing.assert_array_equal(after["linear.kernel"], before["linear.kernel"])


def test_non_array_outputs_are_returned_as_given():
    class Meta(RLModule):
        def setup(self):
            self.pi = self.nn.Dense(4, 3)

        def _forward(self, batch, **kwargs):
            return {"out": self.pi(batch[Columns.OBS]), "name": "meta", "n": 3, "none": None}

    module = build(Meta)
    for _ in range(2):
        out = module.forward_inference(obs_batch())
        assert out["name"] == "meta" and out["n"] == 3 and out["none"] is None
        assert out["out"].shape == (4, 3)


def test_compiled_module_inside_jax_transformations():
    module = build(TinyPolicy, seed=0)
    b = obs_batch()
    want = logits(module.forward_inference(b))
    jitted = jax.jit(lambda obs: module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS])
    np.testing.assert_allclose(np.asarray(jitted(b[Columns.OBS])), want, atol=1e-6)
    via_nnx = nnx.jit(lambda m, obs: m.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS])
    np.testing.assert_allclose(np.asarray(via_nnx(module, b[Columns.OBS])), want, atol=1e-6)
    with jax.disable_jit():
        np.testing.assert_allclose(logits(module.forward_inference(b)), want, atol=1e-6)


def test_compile_rejects_other_modules_and_unknown_options():
    with pytest.raises(TypeError, match="JAX RLModule"):
        BACKEND.compile(object())
    with pytest.raises(TypeError, match="unknown options"):
        BACKEND.compile(build(TinyPolicy), mode="max")


def test_compile_of_a_multi_rl_module_compiles_each_module():
    spec = rlm.RLModuleSpec(module_class=Counting, observation_space=OBS, action_space=ACT, framework="jax")
    multi = rlm.MultiRLModuleSpec(rl_module_specs={"a": spec, "b": spec}).build()
    assert BACKEND.compile(multi, jit=False) is multi
    TRACES.clear()
    multi.forward_inference({"a": obs_batch(), "b": obs_batch()})
    multi.forward_inference({"a": obs_batch(), "b": obs_batch()})
    assert len(TRACES) == 4


def test_outputs_are_jax_arrays_of_the_input_batch_size():
    module = build(TinyPolicy)
    out = module.forward_exploration({Columns.OBS: jnp.ones((3, 4))})
    assert isinstance(out[Columns.ACTION_DIST_INPUTS], jax.Array)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (3, 3)
