"""The framework-free parts of training: GAE, the losses' values, replay, env runner, CLI checks."""

from __future__ import annotations

import io
import json

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.cli import main
from rlmodule_core.modules import DefaultDQNRLModule, DefaultPPORLModule
from rlmodule_core.train.algorithms import DQNConfig, DQNLearner, PPOConfig, PPOLearner, compute_gae
from rlmodule_core.train.algorithms.replay_buffer import ReplayBuffer
from rlmodule_core.train.env_runner import EnvRunner
from rlmodule_core.train.learner import config_from_json
from rlmodule_core.train.progress import Progress

CARTPOLE = (gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Discrete(2))


def numpy_module(cls, **config):
    obs, act = CARTPOLE
    return rlm.RLModuleSpec(module_class=cls, observation_space=obs, action_space=act,
                            model_config={"fcnet_hiddens": [8], **config}, framework="numpy").build()


def test_gae_matches_a_direct_sum():
    rng = np.random.default_rng(0)
    T, gamma, lam = 6, 0.9, 0.8
    rewards, values, next_values = (rng.normal(size=(T, 1)).astype(np.float32) for _ in range(3))
    zeros = np.zeros((T, 1), bool)
    adv, targets = compute_gae(rewards, values, next_values, zeros, zeros, gamma, lam)
    deltas = rewards[:, 0] + gamma * next_values[:, 0] - values[:, 0]
    want = [sum((gamma * lam) ** (k - t) * deltas[k] for k in range(t, T)) for t in range(T)]
    np.testing.assert_allclose(adv[:, 0], want, rtol=1e-5)
    np.testing.assert_allclose(targets, adv + values)


def test_gae_episode_ends():
    rewards = np.ones((3, 2), np.float32)
    values = np.zeros((3, 2), np.float32)
    next_values = np.full((3, 2), 10.0, np.float32)
    terminated = np.array([[False, False], [True, False], [False, False]])
    truncated = np.array([[False, False], [False, True], [False, False]])
    adv, _ = compute_gae(rewards, values, next_values, terminated, truncated, 1.0, 1.0)
    assert adv[1, 0] == pytest.approx(1.0)  # terminated: no bootstrap
    assert adv[1, 1] == pytest.approx(11.0)  # truncated: bootstrap from the final observation
    assert adv[0, 0] == pytest.approx(1.0 + 10.0 - 0.0 + 1.0)  # recursion continues before the end


def test_ppo_loss_value_against_numpy():
    module = numpy_module(DefaultPPORLModule, vf_share_layers=False)
    rng = np.random.default_rng(1)
    batch = {
        Columns.OBS: rng.normal(size=(16, 4)).astype(np.float32),
        Columns.ACTIONS: rng.integers(0, 2, 16),
        Columns.ACTION_LOGP: np.log(np.full(16, 0.5, np.float32)) + rng.normal(0, 0.1, 16).astype(np.float32),
        Columns.ADVANTAGES: rng.normal(size=16).astype(np.float32),
        Columns.VALUE_TARGETS: rng.normal(size=16).astype(np.float32),
        Columns.VF_PREDS: rng.normal(size=16).astype(np.float32),
    }
    config = PPOConfig()
    learner = PPOLearner.__new__(PPOLearner)  # the loss needs no optimizer
    fwd = module.forward_train(batch)
    loss, metrics = learner.compute_loss_for_module(module_id="p", config=config, batch=batch, fwd_out=fwd, module=module)
    logits = fwd[Columns.ACTION_DIST_INPUTS]
    logp_all = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    logp = logp_all[np.arange(16), batch[Columns.ACTIONS]]
    ratio = np.exp(logp - batch[Columns.ACTION_LOGP])
    adv = batch[Columns.ADVANTAGES]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy = -np.minimum(ratio * adv, np.clip(ratio, 0.8, 1.2) * adv).mean()
    values = module.compute_values(batch)
    old, tgt = batch[Columns.VF_PREDS], batch[Columns.VALUE_TARGETS]
    vf = 0.5 * np.maximum((values - tgt) ** 2, (old + np.clip(values - old, -0.2, 0.2) - tgt) ** 2).mean()
    entropy = -(np.exp(logp_all) * logp_all).sum(-1).mean()
    np.testing.assert_allclose(loss, policy + 0.5 * vf - 0.01 * entropy, rtol=1e-4)
    np.testing.assert_allclose(metrics["entropy"], entropy, rtol=1e-5)


@pytest.mark.parametrize("num_atoms", [1, 11])
def test_dqn_loss_is_zero_at_the_fixed_point(num_atoms):
    """With targets equal to Q and r + gamma * Q' == Q, the TD/C51 loss is at its minimum."""
    module = numpy_module(DefaultDQNRLModule, num_atoms=num_atoms, v_min=-5.0, v_max=5.0, double_q=False)
    module.make_target_networks()
    obs = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    batch = {Columns.OBS: obs, Columns.NEXT_OBS: obs, Columns.ACTIONS: np.zeros(8, np.int64),
             Columns.REWARDS: np.zeros(8, np.float32), Columns.TERMINATEDS: np.ones(8, np.float32),
             "discounts": np.ones(8, np.float32)}
    learner = DQNLearner.__new__(DQNLearner)
    fwd = module.forward_train(batch)
    loss, _ = learner.compute_loss_for_module(module_id="q", config=DQNConfig(), batch=batch, fwd_out=fwd, module=module)
    q = fwd["qf_preds"][:, 0]
    if num_atoms == 1:
        delta = np.abs(q)  # target is r = 0 (terminated)
        want = np.where(delta < 1, 0.5 * delta**2, delta - 0.5).mean()
        np.testing.assert_allclose(loss, want, rtol=1e-5)
    else:
        # Terminated with r = 0: all target mass on the atom at 0.
        zero_atom = int(np.argmin(np.abs(np.asarray(module.support))))
        want = -np.log(fwd["qf_probs"][:, 0, zero_atom]).mean()
        np.testing.assert_allclose(loss, want, rtol=1e-4)


def test_replay_buffer_n_step_returns():
    buffer = ReplayBuffer(10, num_envs=1, n_step=3, gamma=0.5)
    for t in range(4):
        done = t == 3
        buffer.add(np.array([[t]], np.float32), np.array([0]), np.array([1.0]), np.array([[t + 1]], np.float32),
                   np.array([done]), np.array([False]))
    data = buffer._data
    assert len(buffer) == 4
    np.testing.assert_allclose(data[Columns.REWARDS][:4], [1.75, 1.75, 1.5, 1.0])  # cut at the episode end
    np.testing.assert_allclose(data["discounts"][:4], [0.125, 0.125, 0.25, 0.5])
    np.testing.assert_allclose(data[Columns.NEXT_OBS][:4, 0], [3, 4, 4, 4])
    np.testing.assert_allclose(data[Columns.TERMINATEDS][:4], [0, 1, 1, 1])
    assert buffer.sample(5, np.random.default_rng(0))[Columns.OBS].shape == (5, 1)


def test_replay_buffer_keyed_trajectories_do_not_mix_and_end_cut_short():
    buffer = ReplayBuffer(10, num_envs=1, n_step=3, gamma=0.5)
    # Two interleaved trajectories: "x" gets rewards 1, 2, 4; "y" gets 10, 20.
    for key, t, reward in (("x", 0, 1.0), ("y", 0, 10.0), ("x", 1, 2.0), ("y", 1, 20.0), ("x", 2, 4.0)):
        buffer.add_step(key, np.array([t], np.float32), 0, reward, np.array([t + 1], np.float32), False, False)
    assert len(buffer) == 1 and sorted(buffer.open_trajectories) == ["x", "y"]
    np.testing.assert_allclose(buffer._data[Columns.REWARDS][:1], [1 + 0.5 * 2 + 0.25 * 4])  # x's only
    # "y" will get no more steps (its runner died): its returns stop at the last step seen, bootstrapped.
    assert buffer.end_trajectory("y") == 2 and buffer.end_trajectory("y") == 0
    assert buffer.open_trajectories == ["x"] and len(buffer) == 3
    np.testing.assert_allclose(buffer._data[Columns.REWARDS][1:3], [10 + 0.5 * 20, 20])
    np.testing.assert_allclose(buffer._data["discounts"][1:3], [0.25, 0.5])
    np.testing.assert_allclose(buffer._data[Columns.NEXT_OBS][1:3, 0], [2, 2])
    np.testing.assert_allclose(buffer._data[Columns.TERMINATEDS][1:3], [0, 0])
    with pytest.raises(ValueError, match=r"Envs 1\.\.1 do not fit a buffer made for 1 env"):
        buffer.add(*(np.zeros((1, 1)),) * 2, np.zeros(1), np.zeros((1, 1)), np.zeros(1), np.zeros(1), offset=1)
    assert len(buffer) == 3


def test_env_runner_sample_and_evaluate_with_a_numpy_module():
    module = numpy_module(DefaultPPORLModule)
    runner = EnvRunner("CartPole-v1", num_envs=2, seed=0)
    batch = runner.sample(module, 40)
    assert batch[Columns.OBS].shape == (40, 2, 4) and batch[Columns.ACTIONS].shape == (40, 2)
    assert batch[Columns.ACTION_LOGP].shape == (40, 2) and np.all(batch[Columns.ACTION_LOGP] < 0)
    done = batch[Columns.TERMINATEDS] | batch[Columns.TRUNCATEDS]
    assert done.any()  # a random CartPole policy ends episodes within 40 steps
    t, i = map(int, np.argwhere(done)[0])
    # The next obs of a finished step is the final obs, not the reset obs that follows.
    assert not np.allclose(batch[Columns.NEXT_OBS][t, i], batch[Columns.OBS][t + 1, i])
    assert runner.num_env_steps == 80 and runner.num_episodes == done.sum()
    returns = runner.evaluate(module, 3)
    assert len(returns) == 3 and all(r >= 1 for r in returns)


def test_config_files_and_unknown_keys(tmp_path):
    (tmp_path / "c.toml").write_text("lr = 0.001\nnum_envs = 8\n[model]\nfcnet_hiddens = [32]\n")
    config = config_from_json(PPOConfig, tmp_path / "c.toml")
    assert config.lr == 0.001 and config.num_envs == 8 and config.model == {"fcnet_hiddens": [32]}
    (tmp_path / "bad.json").write_text(json.dumps({"learning_rate": 1}))
    with pytest.raises(ValueError, match=r"Unknown PPOConfig keys \['learning_rate'\]. Valid keys: .*lr"):
        config_from_json(PPOConfig, tmp_path / "bad.json")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--algo", "a2c"], "Unknown algorithm 'a2c'"),
        (["--env", "NoSuchEnv-v0", "--framework", "numpy"], "Unknown environment 'NoSuchEnv-v0'"),
        (["--framework", "caffe"], "Unknown framework 'caffe'"),
        (["--framework", "numpy"], "cannot train"),
        (["--algo", "dqn", "--env", "Pendulum-v1", "--framework", "numpy"], "DQN needs a Discrete action space"),
    ],
)
def test_train_rejects_bad_input_before_training(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_train_rejects_unknown_config_key(tmp_path, capsys):
    (tmp_path / "c.json").write_text('{"lrr": 1}')
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "run")]) == 2
    assert "Unknown PPOConfig keys ['lrr']" in capsys.readouterr().err


def test_progress_bar_renders_rate_and_eta():
    stream = io.StringIO()
    bar = Progress(1000, stream=stream, log_every_s=0)
    bar.update(500, {"return": 21.5})
    line = stream.getvalue()
    assert "50%" in line and "500/1,000 steps" in line and "return 21.5" in line and "eta" in line
