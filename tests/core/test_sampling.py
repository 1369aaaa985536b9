"""LocalSampler: the in-process sampler tags its rollouts like the remote one does."""

from __future__ import annotations

import gymnasium as gym

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.modules import DefaultPPORLModule
from rlmodule_core.train.env_runner import EnvRunner
from rlmodule_core.train.sampling import LocalSampler


def test_local_sampler_tags_rollouts_and_reports_each_finished_episode_once():
    env = gym.make("CartPole-v1")
    module = rlm.RLModuleSpec(module_class=DefaultPPORLModule, observation_space=env.observation_space,
                              action_space=env.action_space, model_config={"fcnet_hiddens": [8], "seed": 0},
                              framework="numpy").build()
    sampler = LocalSampler(EnvRunner("CartPole-v1", 3, seed=0), module)
    rollouts = [r for _ in range(3) for r in sampler.sample(60)]
    assert [(r.runner_id, r.seq, r.weights_version, r.env_steps) for r in rollouts] == [
        (0, i, i, 180) for i in range(3)
    ]
    for r in rollouts:
        assert r.data[Columns.OBS].shape == (60, 3, 4)
        ended = int((r.data[Columns.TERMINATEDS] | r.data[Columns.TRUNCATEDS]).sum())
        assert len(r.episode_returns) == ended
    finished = [x for r in rollouts for x in r.episode_returns]
    assert finished and list(sampler.episode_returns) == finished
    assert sampler.num_env_steps == 540 and sampler.metrics() == {}
    assert sampler.get_state()["num_env_steps"] == 540


def test_dqn_with_more_runners_than_envs_fails_before_training(tmp_path, capsys):
    from rlmodule_core.cli import main

    code = main(["train", "--algo", "dqn", "--framework", "numpy", "--num-env-runners", "2",
                 "--out", str(tmp_path / "run")])
    assert code == 2
    assert "needs num_envs >= num_env_runners; received num_env_runners=2. Pass --set num_envs=2" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "run").exists()
