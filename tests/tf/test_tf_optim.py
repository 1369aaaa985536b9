"""The TF gradient step (Backend.make_optimizer) under the neutral learners."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from rlmodule_tf import backend, tf

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.modules import DefaultDQNRLModule, DefaultPPORLModule
from rlmodule_core.train.algorithms import DQNConfig, DQNLearner, PPOConfig, PPOLearner

OBS = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
ACT = gym.spaces.Discrete(2)


def build(cls, seed=0, **config):
    return rlm.RLModuleSpec(
        module_class=cls, observation_space=OBS, action_space=ACT, framework="tf",
        model_config={"fcnet_hiddens": [8], "seed": seed, **config},
    ).build()


def ppo_batch(n=16):
    rng = np.random.default_rng(1)
    return {
        Columns.OBS: rng.normal(size=(n, 4)).astype(np.float32),
        Columns.ACTIONS: rng.integers(0, 2, n),
        Columns.ACTION_LOGP: np.full(n, np.log(0.5), np.float32),
        Columns.ADVANTAGES: rng.normal(size=n).astype(np.float32),
        Columns.VALUE_TARGETS: rng.normal(size=n).astype(np.float32),
        Columns.VF_PREDS: rng.normal(size=n).astype(np.float32),
    }


def test_ppo_updates_change_every_weight_and_report_floats():
    module = build(DefaultPPORLModule)
    learner = PPOLearner(module, PPOConfig(lr=1e-2))
    before = module.get_state()
    metrics = learner.update(ppo_batch())
    assert {"loss", "grad_norm", "policy_loss", "vf_loss", "entropy"} <= set(metrics)
    assert all(isinstance(v, float) and np.isfinite(v) for v in metrics.values())
    after = module.get_state()
    assert all(not np.array_equal(before[k], after[k]) for k in before)


def test_optimizer_state_round_trip_continues_identically():
    a, b = PPOLearner(build(DefaultPPORLModule), PPOConfig()), PPOLearner(build(DefaultPPORLModule), PPOConfig())
    batch = ppo_batch()
    a.update(batch)
    b.set_state(a.get_state())
    opt_state = a.get_state()["optimizers"]["default_policy"]
    assert int(opt_state["iteration"]) == 1 and "momentum.pi.layers.0.kernel" in opt_state
    for _ in range(2):
        assert a.update(batch) == b.update(batch)
    for key, value in a.module.get_state().items():
        np.testing.assert_array_equal(value, b.module.get_state()[key])
    optimizer = a._optimizers["default_policy"]
    with pytest.raises(ValueError, match="does not match this module"):
        optimizer.set_state({"iteration": np.int64(3)})
    optimizer.set_state({**optimizer.get_state(), "iteration": np.array([7])})  # as a file may store it
    assert int(optimizer.get_state()["iteration"]) == 7


def test_learning_rate_changes_without_retracing():
    learner = PPOLearner(build(DefaultPPORLModule), PPOConfig(lr=1e-3))
    batch = ppo_batch()
    learner.update(batch)
    learner.learning_rate = 0.5
    assert learner.learning_rate == pytest.approx(0.5)
    optimizer = learner._optimizers["default_policy"]
    before = learner.module.get_state()
    learner.update(batch)
    step = next(iter(optimizer._steps.values()))
    assert step.function.experimental_get_tracing_count() == 1
    change = max(np.abs(learner.module.get_state()[k] - before[k]).max() for k in before)
    assert change > 0.1  # Adam's first steps move each weight by about lr


def test_grad_norm_is_reported_before_clipping():
    batch = ppo_batch()
    free = PPOLearner(build(DefaultPPORLModule), PPOConfig()).update(batch)["grad_norm"]
    clipped = PPOLearner(build(DefaultPPORLModule), PPOConfig(grad_clip=1e-3)).update(batch)["grad_norm"]
    assert clipped == pytest.approx(free, rel=1e-5) and free > 1e-3


def test_minibatch_sizes_may_vary_without_eager_fallback():
    learner = PPOLearner(build(DefaultPPORLModule), PPOConfig())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Categorical.logp compares shapes: traced per shape, not eager
        for n in (16, 8, 12, 8):
            assert np.isfinite(learner.update(ppo_batch(n))["loss"])
    optimizer = learner._optimizers["default_policy"]
    assert not optimizer._eager and len(optimizer._steps) == 1


def test_adam_matches_the_torch_and_optax_update():
    module = build(DefaultPPORLModule)
    optimizer = backend.make_optimizer(module, lr=0.1, eps=1e-5)
    direction = np.random.default_rng(3).normal(size=(8, 2)).astype(np.float32) * 1e-3
    kernel = module.pi.layers[0].kernel
    start = kernel.numpy().astype(np.float64)

    def loss_fn(m, batch):
        return tf.reduce_sum(m.pi.layers[0].kernel * direction * batch["scale"]), {}

    m = v = np.zeros_like(start)
    want = start
    for t, scale in enumerate([1.0, 3.0, -2.0], start=1):
        optimizer.update(loss_fn, {"scale": np.float32(scale)})
        g = direction * scale
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        want = want - 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-5)
    np.testing.assert_allclose(kernel.numpy(), want, rtol=1e-4, atol=1e-6)


def test_dqn_optimizer_skips_the_target_networks():
    module = build(DefaultDQNRLModule)
    learner = DQNLearner(module, DQNConfig())
    optimizer = learner._optimizers["default_policy"]
    assert any(k.startswith("_target") for k in module.get_state())
    assert len(optimizer.variables) == len(module.trainable_variables)
    assert not any("target" in name for name in optimizer.get_state())
