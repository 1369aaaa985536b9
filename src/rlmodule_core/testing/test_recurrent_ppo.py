"""Recurrent PPO on every backend: STATE_IN/STATE_OUT of the module, and training on sequences."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlmodule_core import Columns
from rlmodule_core.modules import DefaultPPORLModule
from rlmodule_core.testing.helpers import build, numpy_tree
from rlmodule_core.train.algorithms import PPO
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


def test_recurrent_ppo_trains_on_sequences(framework):
    if framework == "numpy":
        pytest.skip("the numpy backend computes no gradients (tests/core checks that it says so)")
    config = build_config("ppo", None, [
        "model.use_lstm=true", "model.lstm_cell_size=16", "model.fcnet_hiddens=[16]", "model.max_seq_len=8",
        "rollout_length=32", "num_envs=2", "num_minibatches=2", "num_epochs=2",
    ])
    algo = PPO(config, "StatelessCartPole-v1", framework=framework, seed=0, total_env_steps=256)
    metrics = [algo.train_iteration() for _ in range(2)]
    assert all(np.isfinite(m["loss"]) for m in metrics) and algo.num_env_steps == 128
    assert len(algo.evaluate(3)) == 3
    algo.close()


def test_trainer_refuses_lstm_settings_it_cannot_use(framework):
    config = build_config("ppo", None, ["model.use_lstm=true", "model.lstm_use_prev_action=true"])
    with pytest.raises(ValueError, match="does not feed previous actions or rewards"):
        PPO(config, "CartPole-v1", framework=framework, seed=0)
