"""Multi-agent training on every backend: learning checks, frozen modules, checkpoints and resume.

NumPy computes no gradients: there these tests check the error that says so.
"""

from __future__ import annotations

import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core.testing.helpers import states_equal
from rlmodule_core.train.algorithms import DQNConfig, PPOConfig
from rlmodule_core.train.multi_agent import MultiAgentDQN, MultiAgentPPO

CARTPOLE = "MultiAgentCartPole-v1"
RPS = "pettingzoo:classic/rps-v2"  # a PettingZoo registry id (pettingzoo.make)
SMALL = {"fcnet_hiddens": [32, 32], "fcnet_kernel_initializer": "orthogonal",
         "fcnet_kernel_initializer_kwargs": {"gain": 2**0.5}}


# Every test here trains: NumPy is deselected (rlmodule_core.testing.fixtures).
pytestmark = pytest.mark.trains


def test_multi_agent_training_refuses_a_backend_without_gradients():
    with pytest.raises(ValueError, match="cannot train"):
        MultiAgentPPO(PPOConfig(), CARTPOLE, framework="numpy")


@pytest.mark.parametrize("policies", ["independent", "shared"])
def test_two_cartpole_agents_beat_a_random_policy(framework, policies):
    """A random CartPole policy scores 22 (std 12): 10 episodes average 22 +- 4. After 12
    iterations (3,072 env steps) each module's last 10 training episodes average 61-92 and
    its greedy evaluation 118-500 (independent, seeds 3-5, torch; shared modules learn
    faster); the bars are 44 (twice random, 5.5 standard errors above it) and 100."""
    config = PPOConfig(lr=3e-3, anneal_lr=False, rollout_length=64, model=SMALL)
    algo = MultiAgentPPO(config, CARTPOLE, framework=framework, seed=3, env_config={"num_agents": 2},
                         multi_agent={"policies": policies})
    expected = ["agent_0", "agent_1"] if policies == "independent" else ["default_policy"]
    assert list(algo.module.keys()) == expected
    try:
        history = [algo.train_iteration() for _ in range(12)]
        assert all(np.isfinite(h[f"{m}/loss"]) for h in history for m in expected)
        for module_id in expected:
            recent = list(algo.runner.module_returns[module_id])[-10:]
            assert np.mean(recent) > 44, (module_id, recent)
        scores = algo.evaluate(4)
        for module_id in expected:
            assert algo.evaluation_metrics[f"{module_id}/eval_return_mean"] > 100, algo.evaluation_metrics
        # The score of an episode is its lowest module's return.
        lowest = min(algo.evaluation_metrics[f"{m}/eval_return_mean"] for m in expected)
        assert np.mean(scores) <= lowest + 1e-6
    finally:
        algo.close()


def test_pettingzoo_rps_learner_exploits_a_frozen_opponent(framework):
    """Rock-paper-scissors (PettingZoo, 25 rounds) against a frozen module biased to rock.

    The opponent's logits are (2, 0, 0): rock with p = e^2 / (e^2 + 2) = 0.79. A random
    learner wins as often as it loses whatever the opponent does, so its expected return
    is 0 (std 4.1 per 25-round episode; 0.9 for a mean of 20 episodes). The best response
    (paper) earns 25 * (0.79 - 0.11) = 17. After 12 iterations the learner's last 20
    episodes average about 10 (seeds 0-2, torch); the bar, 5, is 5.5 standard errors
    above random and half of what learning reaches. The frozen opponent must not change.
    """
    config = PPOConfig(lr=3e-3, anneal_lr=False, rollout_length=64, model={"fcnet_hiddens": [32]})
    algo = MultiAgentPPO(
        config, RPS, framework=framework, seed=0, env_config={"max_cycles": 25},
        multi_agent={"mapping": {"player_0": "learner", "player_1": "opponent"}, "policies_to_train": ["learner"]},
    )
    try:
        opponent = algo.module["opponent"]
        state = opponent.get_state()
        bias = [k for k in state if k.startswith("pi.") and k.endswith("bias")][-1]
        state[bias] = np.array([2.0, 0.0, 0.0], np.float32)
        opponent.set_state(state)
        frozen = opponent.get_state()
        learner_before = algo.module["learner"].get_state()
        for _ in range(12):
            metrics = algo.train_iteration()
        assert "opponent/loss" not in metrics and "learner/loss" in metrics
        assert states_equal(frozen, opponent.get_state())
        assert not states_equal(learner_before, algo.module["learner"].get_state())
        recent = list(algo.runner.agent_returns["player_0"])[-20:]
        assert np.mean(recent) > 5.0, recent
        algo.evaluate(2)  # greedy: the opponent always plays rock, the learner paper
        assert algo.evaluation_metrics["learner/eval_return_mean"] == 25.0
    finally:
        algo.close()


def test_multi_agent_dqn_trains_each_module_and_keeps_frozen_ones(framework):
    config = DQNConfig(learning_starts=100, train_batch_size=16, target_update_frequency=20,
                       model={"fcnet_hiddens": [16]})
    algo = MultiAgentDQN(config, CARTPOLE, framework=framework, seed=0,
                         multi_agent={"policies": "independent", "policies_to_train": ["agent_1"]})
    try:
        frozen, trained = algo.module["agent_0"].get_state(), algo.module["agent_1"].get_state()
        metrics = algo.train_iteration(env_steps=200)
        assert metrics["num_updates"] == 100 and np.isfinite(metrics["agent_1/loss"])
        assert "agent_0/loss" not in metrics
        assert states_equal(frozen, algo.module["agent_0"].get_state())
        assert not states_equal(trained, algo.module["agent_1"].get_state())
    finally:
        algo.close()


def test_checkpoint_holds_the_multi_rl_module_and_resume_continues(framework, tmp_path):
    config = PPOConfig(rollout_length=32, model={"fcnet_hiddens": [16]})
    kwargs = {"framework": framework, "total_env_steps": 10_000, "multi_agent": {"policies": "independent"}}
    algo = MultiAgentPPO(config, CARTPOLE, seed=5, **kwargs)
    resumed = MultiAgentPPO(config, CARTPOLE, seed=99, **kwargs)
    try:
        for _ in range(2):
            algo.train_iteration()
        algo.save_to_path(tmp_path / "ckpt")
        # The module checkpoint is the MultiRLModule; each sub-module restores on its own.
        multi = rlm.RLModule.from_checkpoint(tmp_path / "ckpt" / "module")
        assert isinstance(multi, rlm.MultiRLModule) and sorted(multi.keys()) == ["agent_0", "agent_1"]
        single = rlm.RLModule.from_checkpoint(tmp_path / "ckpt" / "module" / "agent_1")
        assert states_equal(single.get_state(), algo.module["agent_1"].get_state())

        resumed.restore_from_path(tmp_path / "ckpt")
        mine, theirs = algo.module.get_state(), resumed.module.get_state()
        assert sorted(mine) == sorted(theirs) and all(states_equal(mine[m], theirs[m]) for m in mine)
        assert resumed.num_env_steps == algo.num_env_steps and resumed.iteration == 2
        assert resumed.runner.get_state() == algo.runner.get_state()
        # Identical states and counters: the next iteration's update is the same on both
        # (the env copies are re-created, so compare one learner step on one batch).
        segments = algo.runner.sample(algo.module, 8)
        from rlmodule_core.train.multi_agent import segments_gae

        batch = {m: segments_gae(segments[m], algo._values_fn(m), 0.99, 0.95) for m in ("agent_0", "agent_1")}
        a, b = algo.learner.update(batch), resumed.learner.update(batch)
        for module_id in batch:
            assert a[module_id]["loss"] == pytest.approx(b[module_id]["loss"], rel=1e-5)
        for module_id in batch:
            after_a, after_b = algo.module[module_id].get_state(), resumed.module[module_id].get_state()
            for key in after_a:
                np.testing.assert_allclose(after_a[key], after_b[key], rtol=1e-5, atol=1e-6)

        other = MultiAgentPPO(config, CARTPOLE, seed=5, framework=framework, multi_agent={"policies": "shared"})
        with pytest.raises(ValueError, match="differ from this run's"):
            other.restore_from_path(tmp_path / "ckpt")
        other.close()
    finally:
        algo.close()
        resumed.close()
