"""Multi-agent PPO sampling on 2 Ray runners: one inference-only MultiRLModule upload per sync,
per-agent segments from every runner, learning as in one process."""

from __future__ import annotations

import numpy as np
import ray  # noqa: F401 - this folder runs where ray is installed
import torch  # noqa: F401 - this folder runs where torch is installed

from rlmodule_core.train.algorithms import PPOConfig
from rlmodule_core.train.multi_agent import MultiAgentPPO

CONFIG = PPOConfig(lr=3e-3, anneal_lr=False, rollout_length=64, model={"fcnet_hiddens": [32, 32]})


def test_multi_agent_ppo_on_two_runners(ray_instance):
    algo = MultiAgentPPO(CONFIG, "MultiAgentCartPole-v1", framework="torch", seed=3, num_env_runners=2,
                         env_config={"num_agents": 2}, multi_agent={"policies": "independent"})
    try:
        uploads = []
        real_sync = algo.group.sync_weights
        algo.group.sync_weights = lambda state, **kw: uploads.append(state) or real_sync(state, **kw)
        history = [algo.train_iteration() for _ in range(12)]
        # One upload per iteration, of the inference-only MultiRLModule state of both modules.
        assert len(uploads) == 12 and algo.group.weights_version == 12
        assert sorted(uploads[-1]) == ["agent_0", "agent_1"]
        assert not any(k.startswith("vf") for k in uploads[-1]["agent_0"])
        counts = algo.group.counts
        assert counts.received == 24 and counts.lost == 0
        assert algo.num_env_steps == 12 * 4 * 64 and algo.runner.num_env_steps == 0  # the driver never stepped
        # The runners act with the learner's weights as of the last sync (one update ago).
        runner_states = algo.group.foreach_runner(lambda r: r.module.get_state())
        assert all(sorted(s) == ["agent_0", "agent_1"] for s in runner_states)
        assert "agent_0/episode_return_mean" in history[-1] and "agent_1/loss" in history[-1]
        for module_id in ("agent_0", "agent_1"):
            recent = list(algo.runner.module_returns[module_id])[-10:]
            assert np.mean(recent) > 44, (module_id, recent)  # random: 22 (see the conformance test)
    finally:
        algo.close()


def test_runners_hold_the_synced_weights(ray_instance):
    algo = MultiAgentPPO(CONFIG, "MultiAgentCartPole-v1", framework="torch", seed=0, num_env_runners=2,
                         multi_agent={"policies": "shared"})
    try:
        algo.train_iteration()
        algo.group.sync_weights(algo.module.get_state(inference_only=True), wait=True)
        mine = algo.module.get_state(inference_only=True)["default_policy"]
        for state in algo.group.foreach_runner(lambda r: r.module.get_state()):
            assert sorted(state["default_policy"]) == sorted(mine)
            for key, value in mine.items():
                np.testing.assert_array_equal(state["default_policy"][key], value)
    finally:
        algo.close()
