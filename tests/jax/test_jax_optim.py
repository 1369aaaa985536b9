"""The optax gradient step: one jitted step per loss, written back into the module."""

from __future__ import annotations

import gymnasium as gym
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from rlmodule_jax import JaxRLModule

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.testing.modules import QWithTarget, TinyPolicy

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)
BACKEND = rlm.get_backend("jax")
TRACES: list[int] = []


def build(cls, seed=0):
    return rlm.RLModuleSpec(
        module_class=cls, observation_space=OBS, action_space=ACT, model_config={"seed": seed}, framework="jax"
    ).build()


def batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return {Columns.OBS: rng.uniform(-1, 1, (n, 4)).astype(np.float32), "target": rng.normal(size=(n, 3)).astype(np.float32)}


def regression_loss(module, b):
    TRACES.append(1)
    out = module.forward_train(b)[Columns.ACTION_DIST_INPUTS]
    loss = jnp.mean(jnp.square(out - b["target"]))
    return loss, {"mean_out": jnp.mean(out)}


def test_updates_lower_the_loss_and_report_metrics():
    module = build(TinyPolicy)
    opt = BACKEND.make_optimizer(module, lr=1e-2)
    b = batch()
    first = opt.update(regression_loss, b)
    assert set(first) == {"loss", "grad_norm", "mean_out"} and all(isinstance(v, float) for v in first.values())
    for _ in range(30):
        last = opt.update(regression_loss, b)
    assert last["loss"] < first["loss"]
    out = np.asarray(module.forward_inference(b)[Columns.ACTION_DIST_INPUTS])  # compiled pass sees new weights
    assert np.mean((out - b["target"]) ** 2) == pytest.approx(opt.update(regression_loss, b)["loss"], rel=1e-4)


def test_step_is_traced_once_and_learning_rate_changes_without_retracing():
    module = build(TinyPolicy)
    opt = BACKEND.make_optimizer(module, lr=1e-3)
    b = batch()
    TRACES.clear()
    opt.update(regression_loss, b)
    before = module.get_state()["pi.kernel"]
    opt.learning_rate = 0.0
    assert opt.learning_rate == 0.0
    opt.update(regression_loss, b)
    assert len(TRACES) == 1
    np.testing.assert_array_equal(module.get_state()["pi.kernel"], before)  # lr 0: no change


def test_grad_clip_bounds_the_step_and_grad_norm_is_before_clipping():
    clipped, free = build(TinyPolicy), build(TinyPolicy)
    b = batch()
    m_clip = BACKEND.make_optimizer(clipped, lr=1.0, grad_clip=1e-6)
    m_free = BACKEND.make_optimizer(free, lr=1.0)
    norms = m_clip.update(regression_loss, b)["grad_norm"], m_free.update(regression_loss, b)["grad_norm"]
    assert norms[0] == pytest.approx(norms[1], rel=1e-5) and norms[0] > 1e-3
    # Adam normalizes the step size, so compare the first moments instead of the weights.
    mu = {k: v for k, v in m_clip.get_state().items() if ".mu." in k}
    assert max(np.abs(v).max() for v in mu.values()) < 1e-6


def test_optimizer_state_round_trip_continues_exactly():
    a, b = build(TinyPolicy, seed=1), build(TinyPolicy, seed=2)
    opt_a = BACKEND.make_optimizer(a, lr=1e-2)
    data = batch()
    for _ in range(3):
        opt_a.update(regression_loss, data)
    state = opt_a.get_state()
    assert any(".mu.pi.kernel" in k for k in state) and any(k.endswith("learning_rate") for k in state)
    b.set_state(a.get_state())
    opt_b = BACKEND.make_optimizer(b, lr=0.5)
    opt_b.set_state(state)
    assert opt_b.learning_rate == pytest.approx(1e-2)
    opt_a.update(regression_loss, data)
    opt_b.update(regression_loss, data)
    for key, value in a.get_state().items():
        np.testing.assert_allclose(b.get_state()[key], value, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="does not match"):
        opt_b.set_state({"nope": np.zeros(1)})


def test_target_networks_are_not_optimized():
    module = build(QWithTarget)
    module.make_target_networks()
    opt = BACKEND.make_optimizer(module, lr=0.1)
    target = module.get_state("_target_qf")

    def loss(m, b):
        q = m.forward_train(b)["qf_preds"] + m.forward_target(b)["qf_preds"]
        return jnp.mean(jnp.square(q)), {}

    opt.update(loss, batch())
    after = module.get_state()
    assert all(np.array_equal(after[k], v) for k, v in target.items())
    assert not np.array_equal(after["qf.layers.0.kernel"], target["_target_qf.layers.0.kernel"])


class WithBatchNorm(JaxRLModule):
    def setup(self):
        self.linear = nnx.Linear(4, 3, rngs=self.rngs)
        self.norm = nnx.BatchNorm(3, rngs=self.rngs)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.norm(self.linear(batch[Columns.OBS]))}


def test_variables_the_loss_updates_are_written_back():
    module = build(WithBatchNorm)
    before = module.get_state()
    BACKEND.make_optimizer(module, lr=1e-3).update(regression_loss, batch())
    after = module.get_state()
    assert not np.allclose(after["norm.mean"], before["norm.mean"])
    assert not np.allclose(after["linear.kernel"], before["linear.kernel"])


def test_untraceable_loss_runs_eagerly_with_a_warning():
    module = build(TinyPolicy)
    opt = BACKEND.make_optimizer(module, lr=1e-2)

    def loss(m, b):
        value, metrics = regression_loss(m, b)
        return value, {**metrics, "python": 1.0 if b["flag"] else 0.0}

    data = {**batch(), "flag": "yes"}  # a string in the batch cannot be a jit argument
    with pytest.warns(RuntimeWarning, match="eagerly"):
        metrics = opt.update(loss, data)
    assert metrics["python"] == 1.0


def test_ppo_learner_updates_a_default_module():
    from rlmodule_core.modules import DefaultPPORLModule
    from rlmodule_core.train.algorithms import PPOConfig, PPOLearner

    module = rlm.RLModuleSpec(
        module_class=DefaultPPORLModule, observation_space=OBS, action_space=ACT,
        model_config={"fcnet_hiddens": [16], "seed": 0}, framework="jax",
    ).build()
    learner = PPOLearner(module, PPOConfig())
    rng = np.random.default_rng(0)
    n = 32
    b = {
        Columns.OBS: rng.uniform(-1, 1, (n, 4)).astype(np.float32),
        Columns.ACTIONS: rng.integers(0, 3, n),
        Columns.ACTION_LOGP: np.full(n, np.log(1 / 3), np.float32),
        Columns.ADVANTAGES: rng.normal(size=n).astype(np.float32),
        Columns.VALUE_TARGETS: rng.normal(size=n).astype(np.float32),
        Columns.VF_PREDS: np.zeros(n, np.float32),
    }
    before = module.get_state()
    metrics = learner.update(b)
    assert np.isfinite(metrics["loss"]) and metrics["grad_norm"] > 0
    after = module.get_state()
    assert all(not np.array_equal(after[k], v) for k, v in before.items())
