"""Training on every backend: the gradient step, short seeded PPO/DQN runs, exact resume.

NumPy computes no gradients: there these tests check the error that says so.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlmodule_core import Columns
from rlmodule_core.testing.fixtures import trains
from rlmodule_core.testing.helpers import batch, build, states_equal
from rlmodule_core.testing.modules import TinyPolicy
from rlmodule_core.train.algorithms import DQN, PPO, DQNConfig, PPOConfig
from rlmodule_core.train.learner import Learner, LearnerConfig


class Regression(Learner):
    """Fits the policy outputs to fixed targets: a loss that must go down."""

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out, module):
        ops = module.ops
        error = fwd_out[Columns.ACTION_DIST_INPUTS] - batch["target"]
        return ops.mean(ops.square(error)), {"max_error": ops.max(ops.abs(error))}


def test_a_backend_without_gradients_refuses_to_train(framework):
    if trains(framework):
        Regression(build(TinyPolicy, framework))  # builds its optimizer without complaint
    else:
        with pytest.raises(ValueError, match="cannot train"):
            Regression(build(TinyPolicy, framework))


@pytest.mark.trains
def test_gradient_steps_reduce_the_loss(framework):
    module = build(TinyPolicy, framework, model_config={"seed": 0})
    learner = Regression(module, LearnerConfig(lr=1e-2, grad_clip=1.0))
    data = {**batch(32), "target": np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)}
    first = learner.update(data)
    for _ in range(60):
        last = learner.update(data)
    assert set(first) == {"loss", "grad_norm", "max_error"}
    assert last["loss"] < 0.5 * first["loss"]
    assert learner.num_updates == 61


@pytest.mark.trains
def test_learning_rate_can_be_changed(framework):
    learner = Regression(build(TinyPolicy, framework), LearnerConfig(lr=1e-3))
    learner.learning_rate = 0.0
    before = learner.module.get_state()
    learner.update({**batch(8), "target": np.zeros((8, 3), np.float32)})
    assert learner.learning_rate == 0.0
    assert states_equal(before, learner.module.get_state())  # lr 0: Adam moves nothing


@pytest.mark.trains
def test_ppo_short_run_beats_a_random_policy(framework):
    algo = PPO(PPOConfig(), "CartPole-v1", framework=framework, seed=3, total_env_steps=20_480)
    history = [algo.train_iteration() for _ in range(20)]
    assert all(np.isfinite(h["loss"]) for h in history)
    # A random CartPole policy scores about 22; after 10k steps a learning one is well above.
    assert history[-1]["episode_return_mean"] > 40
    assert history[-1]["episode_return_mean"] > 1.5 * history[0]["episode_return_mean"]
    assert np.mean(algo.evaluate(5)) > 60


@pytest.mark.trains
def test_resume_reproduces_the_learner_state(framework, tmp_path):
    config = PPOConfig(rollout_length=64)
    algo = PPO(config, "CartPole-v1", framework=framework, seed=5, total_env_steps=10_000)
    for _ in range(2):
        algo.train_iteration()
    algo.save_to_path(tmp_path / "ckpt")
    resumed = PPO(config, "CartPole-v1", framework=framework, seed=99, total_env_steps=10_000)
    resumed.restore_from_path(tmp_path / "ckpt")
    state, restored = algo.learner.get_state(), resumed.learner.get_state()
    assert states_equal(state["module"], restored["module"])
    for mid, opt in state["optimizers"].items():
        assert states_equal(opt, restored["optimizers"][mid])
    assert resumed.num_env_steps == algo.num_env_steps and resumed.iteration == 2
    # The same batch gives the same update on both.
    rollout = algo.runner.sample(algo.module, 8)
    data = {
        Columns.OBS: rollout[Columns.OBS].reshape(-1, 4),
        Columns.ACTIONS: rollout[Columns.ACTIONS].reshape(-1),
        Columns.ACTION_LOGP: rollout[Columns.ACTION_LOGP].reshape(-1),
        Columns.ADVANTAGES: np.linspace(-1, 1, 32, dtype=np.float32),
        Columns.VALUE_TARGETS: np.ones(32, np.float32),
        Columns.VF_PREDS: np.zeros(32, np.float32),
    }
    a, b = algo.learner.update(data), resumed.learner.update(data)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    after_a, after_b = algo.module.get_state(), resumed.module.get_state()
    for key in after_a:
        np.testing.assert_allclose(after_a[key], after_b[key], rtol=1e-5, atol=1e-6)


@pytest.mark.trains
def test_dqn_updates_and_syncs_targets(framework):
    config = DQNConfig(learning_starts=200, target_update_frequency=50, train_batch_size=32,
                       model={"fcnet_hiddens": [32], "num_atoms": 5, "v_min": 0.0, "v_max": 50.0})
    algo = DQN(config, "CartPole-v1", framework=framework, seed=0)
    metrics = algo.train_iteration(env_steps=400)
    assert metrics["num_updates"] == 200 and np.isfinite(metrics["loss"])
    # 200 updates = 4 syncs, the last right after the last update: targets equal the main nets.
    state = algo.module.get_state()
    targets = {k: v for k, v in state.items() if k.startswith("_target_")}
    assert targets
    for key, value in targets.items():
        np.testing.assert_array_equal(value, state[key.replace("_target_", "", 1)])
