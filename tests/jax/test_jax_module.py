"""JaxRLModule as a Flax NNX module: nnx APIs, gradients, optax, native nnx layers."""

from __future__ import annotations

import pickle

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from rlmodule_jax import JaxRLModule

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.distributions import Categorical
from rlmodule_core.modules import DefaultPPORLModule
from rlmodule_core.testing.modules import TinyPolicy

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)


def build(cls, **config):
    return rlm.RLModuleSpec(
        module_class=cls, observation_space=OBS, action_space=ACT, model_config=config, framework="jax"
    ).build()


def obs_batch(n=6, seed=0):
    return {Columns.OBS: np.random.default_rng(seed).uniform(-1, 1, (n, 4)).astype(np.float32)}


def flat_paths(state) -> set[str]:
    return {".".join(map(str, path)) for path, _ in nnx.to_flat_state(state)}


class NativePolicy(JaxRLModule):
    """A native module: flax.nnx layers seeded by self.rngs, dropout in train mode."""

    def setup(self):
        self.linear = nnx.Linear(4, 8, rngs=self.rngs)
        self.out = nnx.Linear(8, self.action_space.n, rngs=self.rngs)
        self.drop = nnx.Dropout(0.5, rngs=self.rngs)

    def _forward(self, batch, **kwargs):
        hidden = self.drop(nnx.relu(self.linear(batch[Columns.OBS])))
        return {Columns.ACTION_DIST_INPUTS: self.out(hidden)}


def test_module_is_an_nnx_module_and_nnx_state_matches_get_state():
    module = build(TinyPolicy, seed=1)
    assert isinstance(module, nnx.Module)
    assert flat_paths(nnx.state(module, nnx.Param)) == set(module.get_state())
    assert "encoder.net.layers.0.kernel" in module.get_state()


def test_set_state_is_not_changed_by_writing_to_the_given_arrays_afterwards():
    # JAX transfers host arrays asynchronously: the module must not read the caller's
    # buffer after set_state returns (large arrays showed it reliably).
    module = build(TinyPolicy, hidden=2048)
    state = module.get_state()
    wanted = {k: np.full_like(v, 0.5) for k, v in state.items()}
    given = {k: v.copy() for k, v in wanted.items()}
    module.set_state(given)
    for array in given.values():
        array[...] = -1.0
    assert all(np.array_equal(module.get_state()[k], v) for k, v in wanted.items())


def test_split_and_merge_round_trip():
    module = build(TinyPolicy, seed=1)
    graphdef, state = nnx.split(module)
    clone = nnx.merge(graphdef, state)
    assert type(clone) is type(module) and isinstance(clone, TinyPolicy)
    b = obs_batch()
    np.testing.assert_allclose(
        np.asarray(clone.forward_inference(b)[Columns.ACTION_DIST_INPUTS]),
        np.asarray(module.forward_inference(b)[Columns.ACTION_DIST_INPUTS]),
        atol=1e-6,
    )


def test_ppo_logp_loss_has_nonzero_gradient_for_every_parameter():
    module = rlm.RLModuleSpec(
        module_class=DefaultPPORLModule, observation_space=OBS, action_space=ACT,
        model_config=rlm.DefaultModelConfig(fcnet_hiddens=[16, 16]), framework="jax",
    ).build()
    b = obs_batch(8)
    actions = jnp.asarray(np.arange(8) % 3)

    def loss_fn(m):
        out = m.forward_train(b)
        logp = Categorical.from_logits(out[Columns.ACTION_DIST_INPUTS]).logp(actions)
        values = m.compute_values(b, embeddings=out[Columns.EMBEDDINGS])
        return -jnp.mean(logp) + jnp.mean(jnp.square(values - 1.0))

    loss, grads = nnx.value_and_grad(loss_fn)(module)
    assert np.isfinite(float(loss))
    flat = {".".join(map(str, p)): np.asarray(v.get_value()) for p, v in nnx.to_flat_state(grads)}
    assert set(flat) == set(module.get_state())  # every parameter, nothing else
    zero = [k for k, g in flat.items() if not np.any(g != 0)]
    assert not zero, f"zero gradients for {zero}"


def test_optax_step_changes_state_and_compiled_outputs():
    module = build(TinyPolicy, seed=2)
    b = obs_batch()
    before_state = module.get_state()
    before = np.asarray(module.forward_inference(b)[Columns.ACTION_DIST_INPUTS])  # compiled path
    optimizer = nnx.Optimizer(module, optax.sgd(1e-3), wrt=nnx.Param)

    def loss_fn(m):
        return jnp.sum(jnp.square(m.forward_train(b)[Columns.ACTION_DIST_INPUTS]))

    grads = nnx.grad(loss_fn)(module)
    optimizer.update(module, grads)
    after_state = module.get_state()
    assert not np.allclose(after_state["pi.kernel"], before_state["pi.kernel"])
    after = np.asarray(module.forward_inference(b)[Columns.ACTION_DIST_INPUTS])
    assert not np.allclose(after, before)
    assert np.sum(after**2) < np.sum(before**2)  # the step lowered the loss


def test_inference_outputs_stop_gradients_but_train_outputs_do_not():
    module = build(TinyPolicy, seed=3)
    b = obs_batch()

    def loss(m, forward):
        return jnp.sum(getattr(m, forward)(b)[Columns.ACTION_DIST_INPUTS])

    for forward, expect_zero in (("forward_inference", True), ("forward_exploration", True), ("forward_train", False)):
        grads = nnx.grad(lambda m, f=forward: loss(m, f))(module)
        total = sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads))
        assert (total == 0.0) == expect_zero, forward


def test_native_module_seeded_rngs_give_equal_weights_and_nnx_paths():
    a, b = build(NativePolicy, seed=7), build(NativePolicy, seed=7)
    c = build(NativePolicy, seed=8)
    sa = a.get_state()
    assert set(sa) == {"linear.kernel", "linear.bias", "out.kernel", "out.bias"}  # no PRNG state
    assert all(np.array_equal(sa[k], v) for k, v in b.get_state().items())
    assert not np.array_equal(sa["linear.kernel"], c.get_state()["linear.kernel"])
    assert not np.array_equal(
        build(NativePolicy).get_state()["linear.kernel"], build(NativePolicy).get_state()["linear.kernel"]
    )  # unseeded builds differ
    with pytest.raises(AttributeError, match="only inside setup"):
        _ = a.rngs


def test_native_module_dropout_follows_the_mode():
    module = build(NativePolicy, seed=0)
    b = obs_batch()
    inference = [np.asarray(module.forward_inference(b)[Columns.ACTION_DIST_INPUTS]) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])  # eval mode: no dropout
    train = [np.asarray(module.forward_train(b)[Columns.ACTION_DIST_INPUTS]) for _ in range(2)]
    assert not np.allclose(train[0], train[1])  # fresh dropout masks: the rng count advanced
    assert not np.allclose(train[0], inference[0])
    np.testing.assert_array_equal(np.asarray(module.forward_inference(b)[Columns.ACTION_DIST_INPUTS]), inference[0])


def test_native_module_state_round_trip():
    a, b = build(NativePolicy, seed=1), build(NativePolicy, seed=2)
    b.set_state(a.get_state())
    batch = obs_batch()
    np.testing.assert_allclose(
        np.asarray(b.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]),
        np.asarray(a.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]),
        atol=1e-6,
    )


def test_pickle_after_compiled_calls():
    module = build(TinyPolicy, seed=4)
    b = obs_batch()
    want = np.asarray(module.forward_inference(b)[Columns.ACTION_DIST_INPUTS])
    clone = pickle.loads(pickle.dumps(module))
    np.testing.assert_allclose(np.asarray(clone.forward_inference(b)[Columns.ACTION_DIST_INPUTS]), want, atol=1e-6)
    clone.set_state({k: v + 1.0 for k, v in clone.get_state().items()})
    np.testing.assert_allclose(np.asarray(module.forward_inference(b)[Columns.ACTION_DIST_INPUTS]), want, atol=1e-6)


def test_numpy_inputs_are_converted_and_float64_becomes_float32():
    module = build(TinyPolicy, seed=5)
    rlm.get_backend("jax").compile(module, jit=False)  # the eager conversion path
    out = module.forward_inference({Columns.OBS: np.zeros((2, 4), np.float64)})
    assert out[Columns.ACTION_DIST_INPUTS].dtype == jnp.float32


class Containers(rlm.RLModule):
    """nn.List and nn.Dict of layers, and a layer shared under two names."""

    def setup(self):
        nn = self.nn
        self.blocks = nn.List([nn.Dense(4, 4, activation="relu"), nn.Dense(4, 4)])
        self.heads = nn.Dict({"a": nn.Dense(4, 2), "b": nn.Bias(2)})
        self.shared = self.blocks[1]

    def _forward(self, batch, **kwargs):
        x = batch[Columns.OBS]
        for block in self.blocks:
            x = block(x)
        return {"a": self.heads["a"](x), "keys": list(self.heads.keys())}


def test_list_and_dict_paths_are_canonical_and_shared_layers_listed_once():
    module = build(Containers, seed=0)
    assert set(module.get_state()) == {
        "blocks.0.kernel", "blocks.0.bias", "blocks.1.kernel", "blocks.1.bias", "heads.a.kernel",
        "heads.a.bias", "heads.b.bias",
    }
    out = module.forward_inference(obs_batch())
    assert out["a"].shape == (6, 2) and out["keys"] == ["a", "b"]
    reference = rlm.RLModuleSpec(
        module_class=Containers, observation_space=OBS, action_space=ACT, model_config={"seed": 0}, framework="numpy"
    ).build()
    np.testing.assert_allclose(np.asarray(out["a"]), reference.forward_inference(obs_batch())["a"], atol=1e-5)


def test_dict_keys_that_cannot_be_state_paths_are_rejected():
    from rlmodule_jax import nn

    for bad in ("a.b", ""):
        with pytest.raises(ValueError, match="Rename the entry"):
            nn.Dict({bad: nn.Bias(1)})


def test_dict_keeps_insertion_order_through_split_and_merge():
    from flax import nnx
    from rlmodule_jax import nn

    heads = nn.Dict({"z": nn.Bias(1), "keys": nn.Bias(2), "_a": nn.Bias(3)})
    copy = nnx.merge(*nnx.split(heads))
    assert type(copy) is nn.Dict and list(copy) == ["z", "keys", "_a"]
    assert copy["keys"].bias.shape == (2,)
