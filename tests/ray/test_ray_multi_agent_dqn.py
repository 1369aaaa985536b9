"""Multi-agent DQN on 2 Ray runners: replay fed per module from the remote runners, learning,
checkpoint and resume through the main job, and a runner that dies mid-run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch  # noqa: F401 - this folder runs where torch is installed

from rlmodule_core.train.algorithms import DQNConfig
from rlmodule_core.train.loop import train
from rlmodule_core.train.multi_agent import MultiAgentDQN

CARTPOLE = "MultiAgentCartPole-v1"
#: Short DQN settings (n-step returns included); see the learning test for what they reach.
SHORT = {"lr": 1e-3, "num_envs": 2, "rollout_fragment_length": 25, "learning_starts": 500, "train_batch_size": 64,
         "updates_per_step": 2, "target_update_frequency": 100, "n_step": 3, "epsilon": [[0, 1.0], [2000, 0.02]],
         "model": {"fcnet_hiddens": [64, 64]}}


def make(seed: int = 0, **overrides) -> MultiAgentDQN:
    return MultiAgentDQN(DQNConfig(**{**SHORT, **overrides}), CARTPOLE, framework="torch", seed=seed,
                         num_env_runners=2, env_config={"num_agents": 2}, multi_agent={"policies": "independent"})


def test_two_modules_learn_beyond_random_on_two_runners(ray_instance):
    """A random CartPole policy scores 22 (std 12), so a 100-episode mean above 26 is 3 standard
    errors above it. After 8,000 env steps on 2 runners (torch, seeds 0-2, measured on a
    loaded machine) each module's last 100 training episodes averaged 29.9-65.5 and the two
    modules together 39.9-50.4: the bars are 26 per module and 30 for their mean."""
    algo = MultiAgentDQN(
        DQNConfig(lr=1e-3, num_envs=2, rollout_fragment_length=25, learning_starts=500, train_batch_size=32,
                  target_update_frequency=100, n_step=3, epsilon=[[0, 1.0], [3000, 0.05]],
                  model={"fcnet_hiddens": [64]}),
        CARTPOLE, framework="torch", seed=1, num_env_runners=2, env_config={"num_agents": 2},
        multi_agent={"policies": "independent"},
    )
    try:
        history = [algo.train_iteration(env_steps=1_000) for _ in range(8)]
        last = history[-1]
        assert last["env_steps"] == 8_000 and last["batches_lost"] == 0 and last["batches_received"] == 320
        assert last["epsilon"] == pytest.approx(0.05)
        means = {m: float(np.mean(algo.runner.module_returns[m])) for m in ("agent_0", "agent_1")}
        assert all(len(algo.runner.module_returns[m]) == 100 for m in means)  # full windows from the runners
        assert min(means.values()) > 26 and np.mean(list(means.values())) > 30, means
    finally:
        algo.close()


def test_replay_of_each_module_is_fed_by_both_runners_with_one_upload_per_request(ray_instance):
    algo = make(learning_starts=200)
    try:
        uploads, added = [], []
        real_sync = algo.group.sync_weights
        algo.group.sync_weights = lambda state, **kw: uploads.append(state) or real_sync(state, **kw)
        real_add = algo._add
        algo._add = lambda runner_id, segments: added.append((runner_id, segments)) or real_add(runner_id, segments)
        metrics = algo.train_iteration(env_steps=400)
        # 8 requests of 25 steps x 1 env copy on each of the 2 runners = 50 env steps each.
        assert len(uploads) == 8 and algo.group.weights_version == 8
        assert sorted(uploads[-1]) == ["agent_0", "agent_1"]
        assert all(not k.startswith("target") for state in uploads[-1].values() for k in state)  # inference-only
        assert [runner_id for runner_id, _ in added] == [0, 1] * 8
        assert algo.num_env_steps == 400 and algo.runner.num_env_steps == 0  # the driver never stepped
        agent_steps = 0
        for module_id, buffer in algo.buffers.items():
            # Every step its agent acted in is stored, or waits in an open n-step return
            # (at most n - 1 = 2 steps in each of the 2 runners' env copies).
            steps = sum(len(seg["rewards"]) for _, segments in added for seg in segments.get(module_id, ()))
            pending = sum(len(buffer._pending[key]) for key in buffer.open_trajectories)
            assert 0 < steps <= 400 and len(buffer) + pending == steps and pending <= 4
            assert {key[0] for key in buffer.open_trajectories} <= {0, 1}
            agent_steps += steps
        assert metrics["agent_steps"] == agent_steps  # counted in the runners
        # 200 env steps after learning_starts=200 are 100 vector steps (2 env copies), 2 updates each.
        assert metrics["num_updates"] == 200 and np.isfinite(metrics["agent_1/loss"])
        assert metrics["batches_received"] == 16 and metrics["batches_lost"] == 0
        assert np.isfinite(metrics["agent_0/episode_return_mean"])  # returns come from the runners' episodes
    finally:
        algo.close()


def test_a_runner_that_dies_mid_run_is_replaced_and_its_n_step_returns_end_there(ray_instance, kill):
    algo = make(learning_starts=100)
    try:
        log = []
        for module_id, buffer in algo.buffers.items():
            real_add, real_end = buffer.add_step, buffer.end_trajectory
            buffer.add_step = lambda key, *a, m=module_id, f=real_add: log.append(("add", m, key)) or f(key, *a)
            buffer.end_trajectory = lambda key, m=module_id, f=real_end: log.append(("end", m, key)) or f(key)
        requests, open_at_kill = [], {}
        real_sample = algo.group.sample

        def sample(num_steps, **kwargs):
            requests.append(kwargs["t"])
            if len(requests) == 3:  # runner 0 dies before the third request of the iteration
                open_at_kill.update({m: [k for k in b.open_trajectories if k[0] == 0] for m, b in algo.buffers.items()})
                log.append(("kill",))
                kill(algo.group.actors[0])
            return real_sample(num_steps, **kwargs)

        algo.group.sample = sample
        metrics = algo.train_iteration(env_steps=400)
        # As single-agent DQN on Ray: the dead runner's batch is lost, it is replaced, sampling goes on.
        assert metrics["batches_lost"] == 1 and metrics["env_runner_restarts"] == 1
        assert [(f.runner_id, f.seq) for f in algo.group.failures] == [(0, 2)]
        assert algo.num_env_steps >= 400 and metrics["num_updates"] > 0
        # Runner 0's unfinished n-step returns were stored, cut, before its replacement's first step.
        kill_at = log.index(("kill",))
        later = log[kill_at:]
        first_new = next((i for i, e in enumerate(later) if e[0] == "add" and e[2][0] == 0), len(later))
        assert any(open_at_kill.values()), "runner 0 had open n-step returns when it died (n_step=3)"
        for module_id, keys in open_at_kill.items():
            for key in keys:
                assert later.index(("end", module_id, key)) < first_new
        assert algo.group.wait_until_healthy(timeout_s=120)
        metrics = algo.train_iteration(env_steps=200)
        assert metrics["batches_lost"] == 1 and metrics["num_healthy_env_runners"] == 2
        state = algo.module.get_state(inference_only=True)
        algo.group.sync_weights(state, wait=True)
        for runner_state in algo.group.foreach_runner(lambda r: r.module.get_state()):
            for module_id in state:  # the replacement acts with the current weights too
                for key, value in runner_state[module_id].items():
                    np.testing.assert_allclose(value, np.asarray(state[module_id][key]), atol=1e-6)
    finally:
        algo.close()


def test_main_job_on_runners_checkpoints_and_resumes(ray_instance, tmp_path):
    out = tmp_path / "run"
    kwargs = {"framework": "torch", "progress": False, "eval_every": 1_000, "eval_episodes": 2,
              "stop_at_solve": False}
    first = train("dqn", CARTPOLE, seed=0, steps=1_000, out=out, num_env_runners=2, policies="independent",
                  env_config={"num_agents": 2}, config=dict(SHORT), **kwargs)
    assert first.env_steps == 1_000
    run = json.loads((out / "run.json").read_text())
    assert run["num_env_runners"] == 2 and run["config"]["n_step"] == 3
    saved = MultiAgentDQN(DQNConfig(**SHORT), CARTPOLE, framework="torch", seed=5, env_config={"num_agents": 2},
                          multi_agent={"policies": "independent"})
    try:
        saved.restore_from_path(out / "checkpoint")
        saved_state = saved.module.get_state()
        assert saved.num_env_steps == 1_000 and saved.iteration == 1
    finally:
        saved.close()

    resumed = train("dqn", CARTPOLE, steps=2_000, resume=out, **kwargs)
    assert resumed.env_steps == 2_000
    rows = json.loads((out / "metrics.json").read_text())["iterations"]
    assert [r["env_steps"] for r in rows] == [1_000, 2_000]
    # The resumed run's runners got the restored weights first: batches continue the counts.
    assert rows[-1]["batches_received"] == 2 * rows[-1]["weights_version"]
    assert rows[-1]["weights_version"] == 40 and rows[-1]["batches_lost"] == 0
    final = MultiAgentDQN(DQNConfig(**SHORT), CARTPOLE, framework="torch", seed=6, env_config={"num_agents": 2},
                          multi_agent={"policies": "independent"})
    try:
        final.restore_from_path(out / "checkpoint")
        assert final.num_env_steps == 2_000 and final.iteration == 2
        changed = final.module.get_state()
        assert any(not np.array_equal(changed[m][k], saved_state[m][k]) for m in changed for k in changed[m])
    finally:
        final.close()
