"""Multi-agent parts without a framework: the env interface, the PettingZoo adapter, the
mapping and its errors, per-module batching in the runner, per-agent GAE, CLI checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo.classic.rps import rps as rps_v2

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.cli import main
from rlmodule_core.envs.multi_agent import (
    MultiAgentEnv,
    PettingZooEnv,
    is_multi_agent_env,
    make_multi_agent_env,
)
from rlmodule_core.modules import DefaultPPORLModule
from rlmodule_core.multi_rl_module import DEFAULT_MODULE_ID
from rlmodule_core.train.multi_agent import MultiAgentEnvRunner, build_mapping, segments_gae
from rlmodule_core.train.multi_agent.run import split_config

RPS = "pettingzoo:classic/rps-v2"  # a PettingZoo registry id
BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


class JoinLeave(MultiAgentEnv):
    """Agent "a" acts at steps 0-1 and terminates; "b" joins at step 1 (rewarded 5 before it
    ever acts), acts at steps 1-3, then the episode is truncated. Observations count steps."""

    possible_agents = ["a", "b"]

    def __init__(self) -> None:
        self.observation_spaces = {"a": BOX, "b": BOX}
        self.action_spaces = {"a": gym.spaces.Discrete(2), "b": gym.spaces.Discrete(2)}
        self.agents = []

    def _obs(self, agent):
        return np.array([self.t, 0.0 if agent == "a" else 1.0], np.float32)

    def reset(self, *, seed=None, options=None):
        self.t, self.agents = 0, ["a"]
        return {"a": self._obs("a")}, {"a": {}}

    def step(self, actions):
        assert set(actions) == set(self.agents), (actions, self.agents)
        self.t += 1
        obs, rewards, term, trunc = {}, {}, {}, {}
        if "a" in actions:
            obs["a"], rewards["a"], term["a"], trunc["a"] = self._obs("a"), 1.0, self.t == 2, False
        if self.t == 1:
            obs["b"], rewards["b"], term["b"], trunc["b"] = self._obs("b"), 5.0, False, False
        elif "b" in actions:
            obs["b"], rewards["b"], term["b"], trunc["b"] = self._obs("b"), 2.0, False, self.t == 4
        self.agents = [a for a in obs if not (term[a] or trunc[a])]
        return obs, rewards, term, trunc, {a: {} for a in obs}


def numpy_multi(mapping, hiddens=(8,)):
    specs = {
        mid: rlm.RLModuleSpec(module_class=DefaultPPORLModule, observation_space=obs, action_space=act,
                              model_config={"fcnet_hiddens": list(hiddens), "seed": k}, framework="numpy")
        for k, (mid, (obs, act)) in enumerate(mapping.spaces.items())
    }
    return rlm.MultiRLModuleSpec(rl_module_specs=specs).build()


# ---- env interface and adapter ------------------------------------------------------------
def test_multi_agent_cartpole_agents_leave_on_their_own():
    env = make_multi_agent_env("MultiAgentCartPole-v1", {"num_agents": 3})
    obs, _ = env.reset(seed=0)
    assert sorted(obs) == ["agent_0", "agent_1", "agent_2"] and obs["agent_0"].shape == (4,)
    steps = {a: 0 for a in env.possible_agents}
    while env.agents:
        # agent_0 pushes one way (falls fast); the others alternate (survive longer).
        actions = {a: (1 if a == "agent_0" else steps[a] % 2) for a in env.agents}
        obs, rewards, term, trunc, _ = env.step(actions)
        assert set(obs) == set(actions) == set(rewards)  # the leaving agent gets its last observation
        for a in actions:
            steps[a] += 1
            if term[a] or trunc[a]:
                assert a not in env.agents
    assert steps["agent_0"] < steps["agent_1"]  # agent_0 left early; the others kept playing
    with pytest.raises(ValueError, match="num_agents >= 1"):
        make_multi_agent_env("MultiAgentCartPole-v1", {"num_agents": 0})
    with pytest.raises(ValueError, match="rejected the env config"):
        make_multi_agent_env("MultiAgentCartPole-v1", {"agents": 2})


@pytest.mark.parametrize("constructor", [rps_v2.parallel_env, rps_v2.env], ids=["parallel", "aec"])
def test_pettingzoo_parallel_and_aec_envs_adapt_to_the_dict_form(constructor):
    env = PettingZooEnv(constructor(max_cycles=3))
    assert env.possible_agents == ["player_0", "player_1"]
    assert env.observation_space("player_0") == gym.spaces.Discrete(4)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"player_0", "player_1"}
    # paper (1) beats rock (0): +1 / -1 in both forms of the env.
    obs, rewards, term, trunc, _ = env.step({"player_0": 1, "player_1": 0})
    assert rewards == {"player_0": 1, "player_1": -1}
    assert obs["player_0"] == 0 and obs["player_1"] == 1  # each sees the other's last move
    for _ in range(2):
        obs, rewards, term, trunc, _ = env.step({"player_0": 0, "player_1": 0})
    assert trunc == {"player_0": True, "player_1": True} and env.agents == []


def test_env_specs_that_are_not_multi_agent_are_refused():
    assert is_multi_agent_env("MultiAgentCartPole-v1") and is_multi_agent_env(RPS)
    by_module = make_multi_agent_env("pettingzoo:pettingzoo.classic.rps.rps", {"max_cycles": 2})
    assert by_module.possible_agents == ["player_0", "player_1"]
    with pytest.raises(ValueError, match="Unknown PettingZoo env 'classic/nope-v1'"):
        make_multi_agent_env("pettingzoo:classic/nope-v1")
    assert not is_multi_agent_env("CartPole-v1")
    with pytest.raises(ValueError, match="not a multi-agent env"):
        make_multi_agent_env("CartPole-v1")
    with pytest.raises(ValueError, match="outside the pettingzoo package"):
        make_multi_agent_env("pettingzoo:os")
    with pytest.raises(ValueError, match="Cannot import"):
        make_multi_agent_env("pettingzoo:pettingzoo.classic.no_such_env")
    with pytest.raises(ValueError, match="not a multi-agent env: expected possible_agents"):
        make_multi_agent_env(lambda: gym.make("CartPole-v1"))


# ---- mapping --------------------------------------------------------------------------------
def test_default_mapping_is_shared_for_equal_spaces_and_independent_otherwise():
    env = make_multi_agent_env("MultiAgentCartPole-v1", {"num_agents": 2})
    shared = build_mapping(env)
    assert list(shared.spaces) == [DEFAULT_MODULE_ID]
    assert shared("agent_1", 3) == DEFAULT_MODULE_ID
    independent = build_mapping(env, {"policies": "independent"})
    assert list(independent.spaces) == ["agent_0", "agent_1"] and independent("agent_1") == "agent_1"
    hetero = JoinLeave()
    hetero.observation_spaces = {"a": BOX, "b": gym.spaces.Box(-1.0, 1.0, (3,), np.float32)}
    assert sorted(build_mapping(hetero).spaces) == ["a", "b"]


def test_mapping_errors_name_the_agents_modules_and_fix():
    env = make_multi_agent_env("MultiAgentCartPole-v1", {"num_agents": 2})
    with pytest.raises(ValueError, match=r"no module for agents \['agent_1'\]"):
        build_mapping(env, {"mapping": {"agent_0": "p0"}})
    with pytest.raises(ValueError, match="mapped to module 'p9', which is not among the modules"):
        build_mapping(env, {"mapping": {"agent_0": "p0", "agent_1": "p9"}, "modules": ["p0"]})
    with pytest.raises(ValueError, match=r"policies_to_train must name at least one of the modules \['p0'\]"):
        build_mapping(env, {"mapping": {"agent_0": "p0", "agent_1": "p0"}, "policies_to_train": ["p1"]})
    with pytest.raises(ValueError, match="Unknown policies mode 'all'"):
        build_mapping(env, {"policies": "all"})
    with pytest.raises(ValueError, match=r"Unknown \[multi_agent\] keys \['policy'\]"):
        build_mapping(env, {"policy": "shared"})
    with pytest.raises(ValueError, match="Invalid module ID"):
        build_mapping(env, {"mapping": {"agent_0": "bad id", "agent_1": "p0"}})
    hetero = JoinLeave()
    hetero.observation_spaces = {"a": BOX, "b": gym.spaces.Box(-1.0, 1.0, (3,), np.float32)}
    with pytest.raises(ValueError, match="share module 'default_policy' but their spaces differ"):
        build_mapping(hetero, {"policies": "shared"})
    mapping = build_mapping(env, policy_mapping_fn=lambda agent, episode: "p0" if episode == 0 else "gone")
    with pytest.raises(ValueError, match="mapped agent 'agent_0' .* to module 'gone', which does not exist"):
        mapping("agent_0", 1)


# ---- runner: per-module batching, per-agent segments ------------------------------------------
def test_runner_batches_each_module_once_per_step(monkeypatch):
    mapping = build_mapping(make_multi_agent_env("MultiAgentCartPole-v1", {"num_agents": 3}),
                            {"mapping": {"agent_0": "p0", "agent_1": "p1", "agent_2": "p1"}})
    multi = numpy_multi(mapping)
    calls = []
    for mid in ("p0", "p1"):
        original = multi[mid].forward_exploration
        monkeypatch.setattr(multi[mid], "forward_exploration",
                            lambda batch, _f=original, _m=mid, **kw: calls.append((_m, len(batch[Columns.OBS]))) or _f(batch, **kw))
    runner = MultiAgentEnvRunner("MultiAgentCartPole-v1", 2, mapping=mapping, env_config={"num_agents": 3}, seed=0)
    runner.sample(multi, 1)
    assert sorted(calls) == [("p0", 2), ("p1", 4)]  # one forward per module: 2 envs x its agents


def test_evaluation_plays_envs_together_with_the_returns_of_one_at_a_time(monkeypatch):
    mapping = build_mapping(make_multi_agent_env("MultiAgentCartPole-v1", {"num_agents": 2}),
                            {"mapping": {"agent_0": "p0", "agent_1": "p1"}})
    multi = numpy_multi(mapping)
    runner = MultiAgentEnvRunner("MultiAgentCartPole-v1", 1, mapping=mapping, env_config={"num_agents": 2}, seed=0)
    alone = runner.evaluate(multi, 7, seed=300, num_envs=1)
    calls = []
    original = multi["p0"].forward_inference
    monkeypatch.setattr(multi["p0"], "forward_inference",
                        lambda batch, **kw: calls.append(len(batch[Columns.OBS])) or original(batch, **kw))
    together = runner.evaluate(multi, 7, seed=300, num_envs=3)
    assert together == alone  # episode k is reset(seed=300 + k) either way, and the order is kept
    assert max(calls) == 3  # one forward per module over the envs still playing
    assert len(calls) < sum(r["agent_0"] for r in alone)  # fewer calls than agent_0's steps one by one
    mapping = build_mapping(JoinLeave(), {"policies": "shared"})
    runner = MultiAgentEnvRunner(JoinLeave, 1, mapping=mapping, seed=0)
    assert runner.evaluate(numpy_multi(mapping), 3, num_envs=2) == [{"a": 2.0, "b": 11.0}] * 3


def test_agents_joining_and_leaving_give_per_agent_segments():
    mapping = build_mapping(JoinLeave(), {"policies": "shared"})
    runner = MultiAgentEnvRunner(JoinLeave, 1, mapping=mapping, seed=0)
    segments = runner.sample(numpy_multi(mapping), 4)[DEFAULT_MODULE_ID]
    by_agent = {s[Columns.AGENT_ID]: s for s in segments}
    a, b = by_agent["a"], by_agent["b"]
    np.testing.assert_array_equal(a[Columns.OBS][:, 0], [0, 1])
    np.testing.assert_array_equal(a[Columns.REWARDS], [1, 1])
    np.testing.assert_array_equal(a[Columns.TERMINATEDS], [False, True])
    np.testing.assert_array_equal(b[Columns.OBS][:, 0], [1, 2, 3])
    np.testing.assert_array_equal(b[Columns.NEXT_OBS][:, 0], [2, 3, 4])
    np.testing.assert_array_equal(b[Columns.REWARDS], [7, 2, 2])  # the reward before b acted counts
    np.testing.assert_array_equal(b[Columns.TRUNCATEDS], [False, False, True])
    assert runner.num_env_steps == 4 and runner.num_agent_steps == 5 and runner.num_episodes == 1
    assert list(runner.agent_returns["a"]) == [2.0] and list(runner.agent_returns["b"]) == [11.0]
    assert list(runner.module_returns[DEFAULT_MODULE_ID]) == [2.0, 11.0]


def test_rollout_end_cuts_a_segment_that_the_next_call_continues():
    mapping = build_mapping(JoinLeave(), {"policies": "shared"})
    runner = MultiAgentEnvRunner(JoinLeave, 1, mapping=mapping, seed=0)
    multi = numpy_multi(mapping)
    first = {s[Columns.AGENT_ID]: s for s in runner.sample(multi, 2)[DEFAULT_MODULE_ID]}
    second = {s[Columns.AGENT_ID]: s for s in runner.sample(multi, 2)[DEFAULT_MODULE_ID]}
    np.testing.assert_array_equal(first["b"][Columns.OBS][:, 0], [1])
    assert not first["b"][Columns.TERMINATEDS][-1] and not first["b"][Columns.TRUNCATEDS][-1]
    np.testing.assert_array_equal(second["b"][Columns.OBS][:, 0], [2, 3])


def test_per_agent_gae_matches_a_hand_computation():
    gamma, lam = 0.9, 0.5
    obs = lambda *v: np.array(v, np.float32)[:, None]  # noqa: E731 - the value function reads obs[:, 0]
    seg_a = {Columns.OBS: obs(1, 2), Columns.NEXT_OBS: obs(2, 3), Columns.ACTIONS: np.array([0, 1]),
             Columns.ACTION_LOGP: np.zeros(2), Columns.REWARDS: np.array([1.0, 2.0], np.float32),
             Columns.TERMINATEDS: np.array([False, True]), Columns.TRUNCATEDS: np.array([False, False])}
    # Agent b's segment was cut by the rollout's end: it bootstraps from V(next_obs) = 7.
    seg_b = {Columns.OBS: obs(5, 6), Columns.NEXT_OBS: obs(6, 7), Columns.ACTIONS: np.array([1, 1]),
             Columns.ACTION_LOGP: np.zeros(2), Columns.REWARDS: np.array([0.5, 0.5], np.float32),
             Columns.TERMINATEDS: np.array([False, False]), Columns.TRUNCATEDS: np.array([False, False])}
    batch = segments_gae([seg_a, seg_b], lambda o: o[:, 0], gamma, lam)
    # a: V = obs; step 1 terminates: delta1 = 2 - 2 = 0; step 0: delta0 = 1 + 0.9*2 - 1 = 1.8,
    #    A0 = 1.8 + 0.45 * 0 = 1.8.
    # b: step 1: delta = 0.5 + 0.9*7 - 6 = 0.8; step 0: delta = 0.5 + 0.9*6 - 5 = 0.9, A0 = 0.9 + 0.45*0.8.
    np.testing.assert_allclose(batch[Columns.ADVANTAGES], [1.8, 0.0, 0.9 + 0.45 * 0.8, 0.8], rtol=1e-6)
    np.testing.assert_allclose(batch[Columns.VALUE_TARGETS], batch[Columns.ADVANTAGES] + [1, 2, 5, 6], rtol=1e-6)


# ---- the main job's checks --------------------------------------------------------------------
def test_multi_agent_settings_fail_before_training(tmp_path, capsys):
    with pytest.raises(ValueError, match="'CartPole-v1' is not a multi-agent env"):
        split_config(None, "CartPole-v1", "shared")
    config = tmp_path / "c.toml"
    config.write_text('lr = 0.001\n[multi_agent]\nmapping = { agent_0 = "p0", agent_1 = "p1" }\n')
    values, settings = split_config(config, "MultiAgentCartPole-v1", None)
    assert values == {"lr": 0.001} and settings == {"mapping": {"agent_0": "p0", "agent_1": "p1"}}
    config.write_text('[multi_agent]\nmapping = { agent_0 = "p0" }\n')
    code = main(["train", "--env", "MultiAgentCartPole-v1", "--config", str(config), "--out", str(tmp_path / "run"),
                 "--framework", "numpy"])
    assert code == 2 and "no module for agents ['agent_1']" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    code = main(["train", "--env", "CartPole-v1", "--policies", "independent", "--out", str(tmp_path / "r2")])
    assert code == 2 and "is not a multi-agent env" in capsys.readouterr().err
    code = main(["train", "--env", "MultiAgentCartPole-v1", "--env-config", "{num_agents: 2}"])
    assert code == 2 and "--env-config expects a JSON object" in capsys.readouterr().err


def test_a_mapping_function_may_switch_modules_between_episodes():
    mapping = build_mapping(
        make_multi_agent_env(RPS, {"max_cycles": 2}),
        {"modules": ["main", "main_v0"], "policies_to_train": ["main"]},
        policy_mapping_fn=lambda agent, episode: "main" if agent == "player_0" else ("main", "main_v0")[episode % 2],
    )
    assert sorted(mapping.spaces) == ["main", "main_v0"] and mapping.policies_to_train == ["main"]
    runner = MultiAgentEnvRunner(RPS, 1, mapping=mapping, env_config={"max_cycles": 2}, seed=0)
    segments = runner.sample(numpy_multi(mapping), 4)  # two episodes of 2 steps: episode 0, then 1
    assert {s[Columns.AGENT_ID] for s in segments["main"]} == {"player_0", "player_1"}
    assert [s[Columns.AGENT_ID] for s in segments["main_v0"]] == ["player_1"]


def test_eval_refuses_a_checkpoint_whose_spaces_do_not_match_the_agents(tmp_path, capsys):
    mapping = build_mapping(JoinLeave(), {"policies": "independent"})
    multi = numpy_multi(mapping)  # modules "a" and "b" on Box(2) observations
    multi.save_to_path(tmp_path / "module")
    code = main(["eval", str(tmp_path / "module"), "--env", "MultiAgentCartPole-v1"])
    err = capsys.readouterr().err
    assert code == 2 and "Cannot tell which of the modules ['a', 'b'] plays agents" in err
    renamed = numpy_multi(build_mapping(JoinLeave(), {"mapping": {"a": "agent_0", "b": "agent_1"}}))
    renamed.save_to_path(tmp_path / "renamed")
    code = main(["eval", str(tmp_path / "renamed"), "--env", "MultiAgentCartPole-v1"])
    err = capsys.readouterr().err
    assert code == 2 and "Module 'agent_0' has spaces" in err and "Pass the env (and --env-config)" in err


def test_algorithms_without_a_multi_agent_form_are_refused_before_training(tmp_path, capsys):
    code = main(["train", "--algo", "sac", "--env", "MultiAgentCartPole-v1", "--framework", "numpy", "--out", str(tmp_path / "sac")])
    assert code == 2 and "SAC does not train multi-agent envs yet" in capsys.readouterr().err
    code = main(["train", "--env", "MultiAgentCartPole-v1", "--set", "model.use_lstm=true", "--framework", "numpy",
                 "--out", str(tmp_path / "lstm")])
    assert code == 2 and "does not train recurrent modules yet" in capsys.readouterr().err
    assert not (tmp_path / "sac").exists() and not (tmp_path / "lstm").exists()
