"""Target networks on JAX: independent copies excluded from gradients, polyak in place."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from rlmodule_jax import TargetParam, make_target_network, nn, update_target_network

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.testing.modules import QWithTarget

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)


def build_q():
    module = rlm.RLModuleSpec(
        module_class=QWithTarget, observation_space=OBS, action_space=gym.spaces.Discrete(3),
        model_config={"seed": 0}, framework="jax",
    ).build()
    module.make_target_networks()
    return module


def obs_batch():
    return {Columns.OBS: np.random.default_rng(0).uniform(-1, 1, (5, 4)).astype(np.float32)}


def test_target_parameters_are_not_params():
    module = build_q()
    assert not jax.tree.leaves(nnx.state(module._target_qf, nnx.Param))
    assert len(jax.tree.leaves(nnx.state(module._target_qf, TargetParam))) == 4
    assert {k for k in module.get_state() if k.startswith("_target_qf.")} == {
        "_target_qf.layers.0.kernel", "_target_qf.layers.0.bias",
        "_target_qf.layers.1.kernel", "_target_qf.layers.1.bias",
    }


def test_grad_of_a_loss_through_both_networks_skips_the_target():
    module = build_q()
    b = obs_batch()

    def loss_fn(m):
        return jnp.sum(m.forward_train(b)["qf_preds"]) + jnp.sum(m.forward_target(b)["qf_preds"])

    grads = nnx.grad(loss_fn)(module)
    paths = {".".join(map(str, p)) for p, _ in nnx.to_flat_state(grads)}
    assert paths and all(p.startswith("qf.") for p in paths)


def test_optimizer_step_leaves_the_target_unchanged():
    module = build_q()
    b = obs_batch()
    target_before = module.get_state("_target_qf")
    optimizer = nnx.Optimizer(module, optax.sgd(0.1), wrt=nnx.Param)
    grads = nnx.grad(lambda m: jnp.sum(m.forward_train(b)["qf_preds"] ** 2))(module)
    optimizer.update(module, grads)
    after = module.get_state()
    assert all(np.array_equal(after[k], v) for k, v in target_before.items())
    assert not np.allclose(after["qf.layers.1.kernel"], target_before["_target_qf.layers.1.kernel"])


def test_make_target_network_copies_a_plain_layer_independently():
    layer = nn.Dense(3, 2)
    target = make_target_network(layer)
    np.testing.assert_array_equal(np.asarray(target.kernel.get_value()), np.asarray(layer.kernel.get_value()))
    layer.kernel.set_value(layer.kernel.get_value() + 1.0)
    assert not np.allclose(np.asarray(target.kernel.get_value()), np.asarray(layer.kernel.get_value()))
    assert isinstance(target.kernel, TargetParam) and isinstance(layer.kernel, nnx.Param)


def test_polyak_update_in_place_is_seen_by_compiled_forward_target():
    module = build_q()
    b = obs_batch()
    module.forward_target(b)
    module.set_state({k: (v + 1.0 if k.startswith("qf.") else v) for k, v in module.get_state().items()})
    update_target_network(module.qf, module._target_qf, 1.0)
    np.testing.assert_allclose(
        np.asarray(module.forward_target(b)["qf_preds"]), np.asarray(module.forward_inference(b)["qf_preds"]), atol=1e-6
    )


def test_update_rejects_bad_tau_and_mismatched_networks():
    with pytest.raises(ValueError, match="tau"):
        update_target_network(nn.Dense(2, 2), nn.Dense(2, 2), 1.5)
    with pytest.raises(ValueError, match="different parameters"):
        update_target_network(nn.Dense(2, 2), nn.Dense(2, 2, use_bias=False), 0.5)
