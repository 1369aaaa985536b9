"""Recurrent PPO on every backend: STATE_IN/STATE_OUT of the module, and training on sequences."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlmodule_core import Columns
from rlmodule_core.modules import DefaultPPORLModule
from rlmodule_core.testing.helpers import build, numpy_tree
from rlmodule_core.train.algorithms import PPO
from rlmodule_core.train.algorithms.ppo import sequence_indices
from rlmodule_core.train.loop import build_config

CARTPOLE_OBS = gym.spaces.Box(-5.0, 5.0, (4,), np.float32)


@pytest.mark.parametrize("shared", [True, False])
def test_state_in_and_out_with_and_without_a_shared_critic(framework, shared):
    config = {"use_lstm": True, "lstm_cell_size": 8, "fcnet_hiddens": [8], "vf_share_layers": shared, "seed": 0}
    module = build(DefaultPPORLModule, framework, obs=CARTPOLE_OBS, act=gym.spaces.Discrete(2),
                   model_config=config)
    initial = module.get_initial_state()
    assert set(initial) == ({"h", "c"} if shared else {"h", "c", "vf_h", "vf_c"})
    assert all(v.shape == (8,) for v in initial.values())  # one unbatched state
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (3, 5, 4)).astype(np.float32)  # [B, T, ...]
    state = {k: np.stack([v] * 3) for k, v in initial.items()}
    out = numpy_tree(module.forward_inference({Columns.OBS: obs, Columns.STATE_IN: state}), framework)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (3, 5, 2)
    assert {k: v.shape for k, v in out[Columns.STATE_OUT].items()} == {k: (3, 8) for k in initial}
    # Two halves with the state carried give the same outputs as the whole sequence.
    first = module.forward_inference({Columns.OBS: obs[:, :2], Columns.STATE_IN: state})
    second = numpy_tree(module.forward_inference({Columns.OBS: obs[:, 2:], Columns.STATE_IN: first[Columns.STATE_OUT]}),
                        framework)
    np.testing.assert_allclose(second[Columns.ACTION_DIST_INPUTS], out[Columns.ACTION_DIST_INPUTS][:, 2:],
                               rtol=1e-5, atol=1e-5)
    values = numpy_tree(module.compute_values({Columns.OBS: obs, Columns.STATE_IN: state}), framework)
    assert values.shape == (3, 5)
    slim = build(DefaultPPORLModule, framework, obs=CARTPOLE_OBS, act=gym.spaces.Discrete(2),
                 model_config=config, inference_only=True)
    assert set(slim.get_initial_state()) == {"h", "c"}
    slim.set_state(module.get_state())
    actor = numpy_tree(slim.forward_inference({Columns.OBS: obs, Columns.STATE_IN: {"h": state["h"], "c": state["c"]}}),
                       framework)
    np.testing.assert_allclose(actor[Columns.ACTION_DIST_INPUTS], out[Columns.ACTION_DIST_INPUTS], rtol=1e-5, atol=1e-5)


@pytest.mark.trains
def test_recurrent_ppo_trains_on_sequences(framework):
    config = build_config("ppo", None, [
        "model.use_lstm=true", "model.lstm_cell_size=16", "model.fcnet_hiddens=[16]", "model.max_seq_len=8",
        "rollout_length=32", "num_envs=2", "num_minibatches=2", "num_epochs=2",
    ])
    algo = PPO(config, "StatelessCartPole-v1", framework=framework, seed=0, total_env_steps=256)
    metrics = [algo.train_iteration() for _ in range(2)]
    assert all(np.isfinite(m["loss"]) for m in metrics) and algo.num_env_steps == 128
    assert len(algo.evaluate(3)) == 3
    algo.close()


class _Recall(gym.Env):
    """Remember a cue: the first observation is -1 or +1, every later one 0; each of steps 2-5
    pays 1 when the action is the cue's (0 for -1, 1 for +1). A feed-forward greedy policy sees
    the same 0 at every rewarded step, so it matches the cue in half of the episodes: expected
    return 2 of the 4 a memory earns."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue, self.t = int(self.np_random.integers(2)), 0
        return np.array([2.0 * self.cue - 1.0], np.float32), {}

    def step(self, action):
        self.t += 1
        reward = float(self.t > 1 and int(action) == self.cue)
        return np.zeros(1, np.float32), reward, self.t >= 5, False, {}


@pytest.mark.trains
def test_recurrent_ppo_learns_to_remember(framework):
    # StatelessCartPole-v1 takes an LSTM ~140,000 env steps (docs/performance.md): too long for
    # a test. This memory task takes ~2,000.
    config = build_config("ppo", None, [
        "model.use_lstm=true", "model.lstm_cell_size=16", "model.fcnet_hiddens=[16]", "model.max_seq_len=5",
        "lr=3e-3", "anneal_lr=false", "num_envs=8", "rollout_length=20", "num_minibatches=2",
        "entropy_coeff=0.0",
    ])
    algo = PPO(config, _Recall, framework=framework, seed=1, total_env_steps=4_000)
    for _ in range(25):
        algo.train_iteration()
    returns = algo.evaluate(50, seed=4321)  # greedy, the state carried across steps
    algo.close()
    # Measured (greedy mean of these 50 episodes after 25 iterations, run seeds 1-5 on each of
    # torch, JAX and TF): 4.00 every time (the training return passes 3.6 by iteration 10).
    # The same run without the LSTM: 1.92 to 2.08 (seeds 1-3); with lr=0: 1.00. A feed-forward
    # policy reaches 3.5 only if 44 of 50 cues fall on its one action (probability ~1e-8).
    assert np.mean(returns) >= 3.5


class _Clock(gym.Env):
    """Observes (t, cue); reward 1 per step; truncated (never terminated) after 3 steps, so the
    final observation (t = 3) differs from every one the policy acted on."""

    observation_space = gym.spaces.Box(-5.0, 5.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.cue = 0, float(self.np_random.uniform(-1.0, 1.0))
        return np.array([0.0, self.cue], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t, self.cue * (1 + int(action))], np.float32), 1.0, False, self.t >= 3, {}


@pytest.mark.trains
@pytest.mark.parametrize("use_lstm", [True, False])
def test_a_truncated_episode_bootstraps_from_its_final_observation(framework, use_lstm):
    model = [f"model.use_lstm={str(use_lstm).lower()}", "model.lstm_cell_size=8", "model.fcnet_hiddens=[8]",
             "model.max_seq_len=2", "model.vf_share_layers=false"]
    config = build_config("ppo", None, [*model, "num_envs=2", "rollout_length=7", "gamma=0.9", "lambda_=0.5"])
    algo = PPO(config, _Clock, framework=framework, seed=0, total_env_steps=14)
    module = algo.module
    rollout = algo.runner.sample(module, 7)  # episodes: steps 0-2 and 3-5 truncated, 6 goes on
    batch = algo._postprocess(rollout)
    targets = batch[Columns.VALUE_TARGETS]
    if use_lstm:  # padded sequences (C, max_seq_len) back to the rollout's (T, N)
        done = rollout[Columns.TERMINATEDS] | rollout[Columns.TRUNCATEDS]
        index_t, index_n, mask = sequence_indices(done, 2)
        targets = np.zeros((7, 2), np.float32)
        targets[index_t[mask], index_n[mask]] = batch[Columns.VALUE_TARGETS][mask]
    else:
        targets = targets.reshape(7, 2)
    assert np.array_equal(np.nonzero(rollout[Columns.TRUNCATEDS])[0], [2, 2, 5, 5])
    initial = {k: v[None] for k, v in module.get_initial_state().items()}
    for t in (2, 5):
        for n in range(2):
            # The value target of the last step: r + gamma * V(final observation), where V sees the
            # whole episode first (from the initial state) when the critic is recurrent.
            episode = np.concatenate([rollout[Columns.OBS][t - 2 : t + 1, n], rollout[Columns.NEXT_OBS][t, n][None]])
            if use_lstm:
                values = numpy_tree(module.compute_values({Columns.OBS: episode[None], Columns.STATE_IN: initial}),
                                    framework)[0]
            else:
                values = numpy_tree(module.compute_values({Columns.OBS: episode}), framework)
            np.testing.assert_allclose(targets[t, n], 1.0 + 0.9 * values[-1], rtol=1e-4, atol=1e-5)
            assert abs(values[-1] - values[-2]) > 1e-4  # the final value differs from the last one
    algo.close()


def test_trainer_refuses_lstm_settings_it_cannot_use(framework):
    config = build_config("ppo", None, ["model.use_lstm=true", "model.lstm_use_prev_action=true"])
    with pytest.raises(ValueError, match="does not feed previous actions or rewards"):
        PPO(config, "CartPole-v1", framework=framework, seed=0)
