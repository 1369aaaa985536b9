"""The default PPO / DQN / SAC modules on every backend and the usual observation spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.modules import DefaultDQNRLModule, DefaultPPORLModule, DefaultSACRLModule
from rlmodule_core.modules.dqn import epsilon_at
from rlmodule_core.testing.helpers import assert_tree_close, numpy_tree, states_equal

CARTPOLE = (gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Discrete(2))
PENDULUM = (gym.spaces.Box(-8.0, 8.0, (3,), np.float32), gym.spaces.Box(-2.0, 2.0, (1,), np.float32))
IMAGE = (gym.spaces.Box(0, 255, (64, 64, 3), np.uint8), gym.spaces.Discrete(4))
DICT = (
    gym.spaces.Dict(
        {"pos": gym.spaces.Box(-1.0, 1.0, (3,), np.float32), "cell": gym.spaces.Discrete(5, start=1)}
    ),
    gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
)
SPACES = {"cartpole": CARTPOLE, "pendulum": PENDULUM, "image": IMAGE, "dict": DICT}
SMALL = {"fcnet_hiddens": [32, 32]}


def build(cls, framework, spaces, inference_only=False, **config):
    obs, act = spaces
    return rlm.RLModuleSpec(
        module_class=cls, observation_space=obs, action_space=act, inference_only=inference_only,
        model_config={**SMALL, **config}, framework=framework,
    ).build()


def sample_obs(space: gym.Space, lead: tuple[int, ...], seed: int = 0):
    space.seed(seed)
    samples = [space.sample() for _ in range(int(np.prod(lead)))]
    if isinstance(space, gym.spaces.Dict):
        return {k: np.stack([s[k] for s in samples]).reshape(*lead, *np.shape(samples[0][k])) for k in space.spaces}
    return np.stack(samples).reshape(*lead, *space.shape)


def act_dim(space: gym.Space) -> int:
    return space.n if isinstance(space, gym.spaces.Discrete) else 2 * space.shape[0]


# ---- PPO ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SPACES))
@pytest.mark.parametrize("share", [True, False])
def test_ppo_forwards_keys_and_shapes(framework, name, share):
    obs_space, act_space = SPACES[name]
    module = build(DefaultPPORLModule, framework, SPACES[name], vf_share_layers=share)
    batch = {Columns.OBS: sample_obs(obs_space, (5,))}
    for out in (module.forward_inference(batch), module.forward_exploration(batch)):
        assert numpy_tree(out[Columns.ACTION_DIST_INPUTS], framework).shape == (5, act_dim(act_space))
    train = module.forward_train(batch)
    assert set(train) == {Columns.ACTION_DIST_INPUTS, Columns.EMBEDDINGS}
    values = numpy_tree(module.compute_values(batch, embeddings=train[Columns.EMBEDDINGS]), framework)
    assert values.shape == (5,)
    np.testing.assert_allclose(values, numpy_tree(module.compute_values(batch), framework), atol=1e-5)
    dist = module.get_exploration_action_dist_cls().from_logits(train[Columns.ACTION_DIST_INPUTS])
    actions = numpy_tree(dist.sample(rng=0), framework)
    assert actions.shape[0] == 5


def test_ppo_matches_numpy_reference(framework):
    module = build(DefaultPPORLModule, framework, DICT, vf_share_layers=False)
    reference = build(DefaultPPORLModule, "numpy", DICT, vf_share_layers=False)
    reference.set_state(module.get_state())
    batch = {Columns.OBS: sample_obs(DICT[0], (4,))}
    assert_tree_close(
        numpy_tree(module.forward_train(batch), framework),
        numpy_tree(reference.forward_train(batch), "numpy"),
        atol=2e-5,
    )
    np.testing.assert_allclose(
        numpy_tree(module.compute_values(batch), framework),
        numpy_tree(reference.compute_values(batch), "numpy"),
        atol=2e-5,
    )


@pytest.mark.parametrize("name", ["cartpole", "dict"])
def test_ppo_lstm_over_time(framework, name):
    obs_space, act_space = SPACES[name]
    module = build(DefaultPPORLModule, framework, SPACES[name], use_lstm=True, lstm_cell_size=8,
                   lstm_use_prev_reward=True)
    init = module.get_initial_state()
    assert module.is_stateful() and init["h"].shape == (8,)
    obs = sample_obs(obs_space, (3, 4))
    rewards = np.ones((3, 4), np.float32)
    batch = {Columns.OBS: obs, Columns.PREV_REWARDS: rewards}
    out = numpy_tree(module.forward_train(batch), framework)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (3, 4, act_dim(act_space))
    assert out[Columns.STATE_OUT]["h"].shape == (3, 8)
    assert numpy_tree(module.compute_values(batch), framework).shape == (3, 4)
    # Two chunks of two steps, carrying the state, equal one pass of four steps.
    def cut(x, s):
        return {k: v[:, s] for k, v in x.items()} if isinstance(x, dict) else x[:, s]

    first = module.forward_inference({Columns.OBS: cut(obs, slice(0, 2)), Columns.PREV_REWARDS: rewards[:, :2]})
    second = module.forward_inference(
        {Columns.OBS: cut(obs, slice(2, 4)), Columns.PREV_REWARDS: rewards[:, 2:],
         Columns.STATE_IN: first[Columns.STATE_OUT]}
    )
    np.testing.assert_allclose(
        numpy_tree(second[Columns.ACTION_DIST_INPUTS], framework),
        out[Columns.ACTION_DIST_INPUTS][:, 2:], atol=1e-5,
    )


def test_ppo_inference_only_build(framework):
    full = build(DefaultPPORLModule, framework, CARTPOLE, vf_share_layers=False)
    slim = build(DefaultPPORLModule, framework, CARTPOLE, vf_share_layers=False, inference_only=True)
    keys = set(slim.get_state())
    assert keys and not any(k.startswith(("vf.", "vf_encoder.")) for k in keys)
    assert keys == set(full.get_state(inference_only=True))
    slim.set_state(full.get_state())
    batch = {Columns.OBS: sample_obs(CARTPOLE[0], (3,))}
    assert_tree_close(
        numpy_tree(slim.forward_inference(batch), framework),
        numpy_tree(full.forward_inference(batch), framework),
    )


def test_ppo_free_log_std_and_clip(framework):
    module = build(DefaultPPORLModule, framework, PENDULUM, free_log_std=True, log_std_clip_param=0.5)
    state = module.get_state()
    state["log_std.bias"] = np.array([2.0], np.float32)  # beyond the clip
    module.set_state(state)
    out = numpy_tree(module.forward_inference({Columns.OBS: sample_obs(PENDULUM[0], (2,))}), framework)
    np.testing.assert_allclose(out[Columns.ACTION_DIST_INPUTS][:, 1], [0.5, 0.5])


def test_ppo_rejects_unsupported_spaces(framework):
    with pytest.raises(ValueError, match="cannot encode observation_space"):
        build(DefaultPPORLModule, framework, (gym.spaces.Text(5), gym.spaces.Discrete(2)))
    with pytest.raises(ValueError, match="No default conv_filters for 30x30"):
        build(DefaultPPORLModule, framework, (gym.spaces.Box(0, 1, (30, 30, 3)), gym.spaces.Discrete(2)))


# ---- DQN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dueling", [True, False])
@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize("num_atoms", [1, 5])
def test_dqn_train_outputs(framework, dueling, double_q, num_atoms):
    module = build(DefaultDQNRLModule, framework, CARTPOLE, dueling=dueling, double_q=double_q, num_atoms=num_atoms)
    module.make_target_networks()
    obs = sample_obs(CARTPOLE[0], (6,))
    out = numpy_tree(module.forward_train({Columns.OBS: obs, Columns.NEXT_OBS: obs + 0.1}), framework)
    expected = {"qf_preds", "qf_target_next_preds"}
    if double_q:
        expected |= {"qf_next_preds"} | ({"qf_next_probs"} if num_atoms > 1 else set())
    if num_atoms > 1:
        expected |= {"atoms", "qf_logits", "qf_probs", "qf_target_next_logits", "qf_target_next_probs"}
        assert out["qf_probs"].shape == (6, 2, num_atoms)
        np.testing.assert_allclose(out["qf_probs"].sum(-1), 1.0, atol=1e-5)
        np.testing.assert_allclose(out["atoms"], np.linspace(-10, 10, num_atoms), atol=1e-6)
        np.testing.assert_allclose(out["qf_preds"], (out["qf_probs"] * out["atoms"]).sum(-1), atol=1e-5)
    assert set(out) == expected
    assert out["qf_preds"].shape == (6, 2)
    # Targets equal the main networks right after creation.
    np.testing.assert_allclose(
        out["qf_target_next_preds"],
        numpy_tree(module.compute_q_values({Columns.OBS: obs + 0.1})["qf_preds"], framework),
        atol=1e-5,
    )


def test_dqn_acting(framework):
    module = build(DefaultDQNRLModule, framework, CARTPOLE, epsilon=[[0, 1.0], [100, 0.0]])
    obs = sample_obs(CARTPOLE[0], (400,))
    q = numpy_tree(module.compute_q_values({Columns.OBS: obs})["qf_preds"], framework)
    greedy = numpy_tree(module.forward_inference({Columns.OBS: obs})[Columns.ACTIONS], framework)
    np.testing.assert_array_equal(greedy, q.argmax(-1))
    late = numpy_tree(module.forward_exploration({Columns.OBS: obs}, t=100, rng=1)[Columns.ACTIONS], framework)
    np.testing.assert_array_equal(late, greedy)  # epsilon 0
    early = numpy_tree(module.forward_exploration({Columns.OBS: obs}, t=0, rng=1)[Columns.ACTIONS], framework)
    assert set(np.unique(early)) == {0, 1}
    assert 0.3 < (early != greedy).mean() < 0.7  # epsilon 1: uniform random actions
    assert module.epsilon(50) == pytest.approx(0.5)


def test_epsilon_schedule_is_piecewise_linear():
    schedule = [[0, 1.0], [10, 0.5], [30, 0.1]]
    for t, want in [(-5, 1.0), (0, 1.0), (5, 0.75), (10, 0.5), (20, 0.3), (30, 0.1), (99, 0.1)]:
        assert epsilon_at(schedule, t) == pytest.approx(want)


def test_dqn_targets_are_independent_and_in_state(framework, backend):
    module = build(DefaultDQNRLModule, framework, CARTPOLE)
    with pytest.raises(RuntimeError, match="make_target_networks"):
        module.forward_train({Columns.OBS: sample_obs(CARTPOLE[0], (2,)), Columns.NEXT_OBS: sample_obs(CARTPOLE[0], (2,))})
    module.make_target_networks()
    state = module.get_state()
    assert any(k.startswith("_target_encoder.") for k in state)
    assert len(module.get_target_network_pairs()) == 3
    module.set_state({k: (v + 1.0 if not k.startswith("_target") else v) for k, v in state.items()})
    after = module.get_state()
    assert states_equal({k: v for k, v in after.items() if k.startswith("_target")},
                        {k: v for k, v in state.items() if k.startswith("_target")})
    for main, target in module.get_target_network_pairs():
        backend.update_target_network(main, target, 1.0)
    synced = module.get_state()
    for key in (k for k in synced if k.startswith("_target_")):
        np.testing.assert_array_equal(synced[key], synced[key.replace("_target_", "", 1)])
    slim = build(DefaultDQNRLModule, framework, CARTPOLE, inference_only=True)
    slim.set_state(module.get_state())  # target keys skipped by an inference-only module
    assert not any("target" in k for k in slim.get_state())


def test_dqn_rejects_box_actions(framework):
    with pytest.raises(ValueError, match="needs a Discrete action space"):
        build(DefaultDQNRLModule, framework, PENDULUM)


# ---- SAC ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pendulum", "cartpole", "image"])
def test_sac_forwards_and_critics(framework, name):
    obs_space, act_space = SPACES[name]
    module = build(DefaultSACRLModule, framework, SPACES[name])
    module.make_target_networks()
    obs = sample_obs(obs_space, (4,))
    batch = {Columns.OBS: obs, Columns.NEXT_OBS: obs}
    continuous = isinstance(act_space, gym.spaces.Box)
    if continuous:
        batch[Columns.ACTIONS] = np.zeros((4, 1), np.float32)
    out = numpy_tree(module.forward_train(batch), framework)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (4, act_dim(act_space))
    assert out["action_dist_inputs_next"].shape == (4, act_dim(act_space))
    q = numpy_tree(module.compute_q_values(batch), framework)
    shape = (4,) if continuous else (4, act_space.n)
    assert q["qf_preds"].shape == shape and q["qf_twin_preds"].shape == shape
    target = numpy_tree(module.forward_target(batch), framework)
    assert_tree_close(target, q)
    dist_cls = module.get_exploration_action_dist_cls()
    actions = numpy_tree(dist_cls.from_logits(module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]).sample(rng=0), framework)
    if continuous:
        assert actions.shape == (4, 1) and np.all(np.abs(actions) <= 2.0)


def test_sac_inference_only_has_no_critics(framework):
    full = build(DefaultSACRLModule, framework, PENDULUM)
    full.make_target_networks()
    slim = build(DefaultSACRLModule, framework, PENDULUM, inference_only=True)
    keys = set(slim.get_state())
    assert keys and all(k.startswith(("pi_encoder.", "pi.")) for k in keys)
    assert not hasattr(slim, "qf")
    slim.set_state(full.get_state())
    batch = {Columns.OBS: sample_obs(PENDULUM[0], (3,))}
    assert_tree_close(
        numpy_tree(slim.forward_inference(batch), framework),
        numpy_tree(full.forward_inference(batch), framework),
    )


def test_sac_without_twin(framework):
    module = build(DefaultSACRLModule, framework, PENDULUM, twin_q=False)
    module.make_target_networks()
    assert len(module.get_target_network_pairs()) == 2
    q = module.compute_q_values({Columns.OBS: sample_obs(PENDULUM[0], (2,)), Columns.ACTIONS: np.zeros((2, 1), np.float32)})
    assert set(q) == {"qf_preds"}


def test_dqn_exploration_draws_fresh_noise_each_call(framework):
    # A compiled forward must not bake the random draws in as constants.
    module = build(DefaultDQNRLModule, framework, CARTPOLE, epsilon=1.0)
    obs = {Columns.OBS: sample_obs(CARTPOLE[0], (64,))}
    first = numpy_tree(module.forward_exploration(obs, t=0)[Columns.ACTIONS], framework)
    second = numpy_tree(module.forward_exploration(obs, t=0)[Columns.ACTIONS], framework)
    assert not np.array_equal(first, second)
    seeded = [numpy_tree(module.forward_exploration(obs, t=0, rng=7)[Columns.ACTIONS], framework) for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])


def test_dqn_exploration_repeats_after_the_same_backend_seed(framework, backend):
    # `rlmodule train --seed` seeds the backend before building: a DQN run's exploration
    # (drawn without an explicit rng) must then repeat, on remote runners too.
    obs = {Columns.OBS: sample_obs(CARTPOLE[0], (64,))}

    def explore(seed):
        backend.seed(seed)
        module = build(DefaultDQNRLModule, framework, CARTPOLE, epsilon=1.0)
        return [numpy_tree(module.forward_exploration(obs, t=0)[Columns.ACTIONS], framework) for _ in range(2)]

    a, b, c = explore(5), explore(5), explore(6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_ppo_on_non_square_images_with_non_square_kernels(framework):
    obs = gym.spaces.Box(0.0, 1.0, (12, 20, 2), np.float32)
    module = build(DefaultPPORLModule, framework, (obs, gym.spaces.Discrete(3)),
                   conv_filters=[[4, [3, 5], [1, 2]], [6, [2, 3], 2, "same"]])
    out = numpy_tree(module.forward_inference({Columns.OBS: sample_obs(obs, (2,))}), framework)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (2, 3)
