"""EnvRunnerGroup on a local Ray instance: sampling, weight sync, and replacing failed runners."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest
import ray
from rlm_ray_envs import FailingCartPole

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.distributed import EnvRunnerGroup, RemoteSampler, SampleCounts  # noqa: E402
from rlmodule_core.modules import DefaultPPORLModule

OBS = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)


def ppo_spec(seed: int, framework: str = "torch") -> rlm.RLModuleSpec:
    env = gym.make("CartPole-v1")
    return rlm.RLModuleSpec(
        module_class=DefaultPPORLModule, observation_space=env.observation_space,
        action_space=env.action_space, model_config={"fcnet_hiddens": [32, 32], "seed": seed},
        framework=framework,
    )


@pytest.fixture
def make_group(ray_instance):
    """Builds groups and stops them after the test, so the next one gets the CPUs."""
    groups = []

    def make(*args, **kwargs) -> EnvRunnerGroup:
        groups.append(EnvRunnerGroup(*args, **kwargs))
        return groups[-1]

    yield make
    for group in groups:
        group.stop()


def batch_ids(rollouts) -> list[tuple[int, int]]:
    return [(r.runner_id, r.seq) for r in rollouts]


def assert_accounted(group: EnvRunnerGroup, received: list[tuple[int, int]], requested_per_runner: dict[int, int]):
    """Every request (runner, seq) came back exactly once or is listed as lost, never both."""
    lost = [(f.runner_id, f.seq) for f in group.failures if f.seq is not None]
    assert len(received) == len(set(received)), f"duplicated batches: {received}"
    assert not set(received) & set(lost), f"a lost batch was also received: {set(received) & set(lost)}"
    requested = {(rid, seq) for rid, n in requested_per_runner.items() for seq in range(n)}
    assert set(received) | set(lost) == requested
    counts = group.counts
    assert counts.requested == len(requested) == counts.received + counts.lost
    assert (counts.received, counts.lost) == (len(received), len(lost))


def test_two_runners_sample_tagged_time_major_batches(make_group):
    group = make_group(ppo_spec(0), "CartPole-v1", 2, num_envs_per_runner=[2, 1], seed=0)
    learner = ppo_spec(0).build()
    rollouts = group.sample(8)
    assert [r.weights_version for r in rollouts] == [0, 0]  # the spec's own weights: no sync yet
    version = group.sync_weights(learner.get_state(inference_only=True))
    assert version == 1
    rollouts = group.sample(200)  # a random CartPole policy ends episodes after ~20 steps
    assert batch_ids(rollouts) == [(0, 1), (1, 1)]
    for rollout, envs in zip(rollouts, (2, 1)):
        data = rollout.data
        assert rollout.weights_version == version
        assert rollout.env_steps == 200 * envs
        assert data[Columns.OBS].shape == data[Columns.NEXT_OBS].shape == (200, envs, 4)
        for key in (Columns.ACTIONS, Columns.ACTION_LOGP, Columns.REWARDS, Columns.TERMINATEDS):
            assert data[key].shape == (200, envs), key
        ended = int((data[Columns.TERMINATEDS] | data[Columns.TRUNCATEDS]).sum())
        assert ended > 0 and len(rollout.episode_returns) == ended  # each finished episode, once
        assert all(1 <= r <= 500 and r == int(r) for r in rollout.episode_returns)
    assert group.sync_weights(learner.get_state(inference_only=True)) == 2
    assert [r.weights_version for r in group.sample(4)] == [2, 2]
    assert group.counts == SampleCounts(requested=6, received=6, lost=0, restarts=0)
    assert group.num_env_steps == 3 * (8 + 200 + 4)
    assert group.num_episodes == sum(len(r.episode_returns) for r in rollouts)


@pytest.mark.parametrize("runner_framework", ["torch", "numpy"])
def test_weight_sync_reaches_every_runner(make_group, monkeypatch, runner_framework):
    learner = ppo_spec(seed=1).build()
    group = make_group(ppo_spec(seed=2), "CartPole-v1", 2, framework=runner_framework)
    want = learner.backend.ops.to_numpy(learner.forward_inference({Columns.OBS: OBS})[Columns.ACTION_DIST_INPUTS])
    for out in group.forward_inference(OBS):  # other seed, other weights
        assert not np.allclose(out[Columns.ACTION_DIST_INPUTS], want, atol=1e-4)

    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value: puts.append(value) or real_put(value))
    version = group.sync_weights(learner.get_state(inference_only=True), wait=True)
    assert len(puts) == 1  # uploaded once for both runners
    for out in group.forward_inference(OBS):
        np.testing.assert_allclose(out[Columns.ACTION_DIST_INPUTS], want, atol=1e-5)
    info = group.foreach_runner(
        lambda r: (r.weights_version, r.module.framework, r.module.inference_only, sorted(r.module.get_state()))
    )
    learner_keys = sorted(learner.get_state(inference_only=True))
    assert info == [(version, runner_framework, True, learner_keys)] * 2
    assert any(k.startswith("vf") for k in learner.get_state())  # what the runners do not hold


def test_killed_runner_is_replaced_with_current_weights(make_group, kill):
    learner = ppo_spec(seed=3).build()
    group = make_group(ppo_spec(seed=4), "CartPole-v1", 2, seed=0)
    received = []
    group.sync_weights(learner.get_state(inference_only=True))
    received += batch_ids(group.sample(10))
    old = group.actors[0]
    kill(old)

    rollouts = group.sample(10)  # the survivor's batch comes back; the dead runner's is lost
    received += batch_ids(rollouts)
    assert batch_ids(rollouts) == [(1, 1)]
    assert [(f.runner_id, f.seq) for f in group.failures] == [(0, 1)]
    assert "ActorDiedError" in group.failures[0].reason
    assert group.counts.restarts == 1

    assert group.wait_until_healthy(timeout_s=120)
    assert group.actors[0] != old
    rollouts = group.sample(10)
    received += batch_ids(rollouts)
    assert batch_ids(rollouts) == [(0, 2), (1, 2)]  # numbering goes on: batch 1 stays lost
    assert [r.weights_version for r in rollouts] == [1, 1]
    want = learner.backend.ops.to_numpy(learner.forward_inference({Columns.OBS: OBS})[Columns.ACTION_DIST_INPUTS])
    for out in group.forward_inference(OBS):  # the replacement was given the current weights
        np.testing.assert_allclose(out[Columns.ACTION_DIST_INPUTS], want, atol=1e-5)
    assert_accounted(group, received, {0: 3, 1: 3})
    assert group.num_env_steps == 5 * 10


def test_crashing_environment_loses_one_batch_and_sampling_goes_on(make_group, tmp_path):
    env = functools.partial(FailingCartPole, fail_at=30, once_marker=str(tmp_path / "crashed"))
    group = make_group(ppo_spec(0, "numpy"), env, 2, seed=0)
    received = batch_ids(group.sample(20))
    rollouts = group.sample(20)  # both envs reach step 30 here; the first one there crashes
    received += batch_ids(rollouts)
    assert len(rollouts) == 1
    [failure] = group.failures
    assert failure.seq == 1 and "crashed on purpose" in failure.reason
    assert group.wait_until_healthy(timeout_s=120)
    for _ in range(2):
        rollouts = group.sample(20)
        received += batch_ids(rollouts)
        assert len(rollouts) == 2
    assert_accounted(group, received, {0: 4, 1: 4})
    assert group.counts.restarts == 1


def test_remote_sampler_never_returns_empty_and_gives_up_after_max_restarts(make_group):
    env = functools.partial(FailingCartPole, fail_at=5)  # every copy crashes at its 5th step
    group = make_group(ppo_spec(0, "numpy"), env, 2, seed=0, max_restarts=3)
    sampler = RemoteSampler(group, ppo_spec(0, "numpy").build())
    with pytest.raises(RuntimeError, match=r"more than max_restarts=3.*crashed on purpose"):
        sampler.sample(10)
    assert group.counts.received == 0
    assert group.counts.requested == group.counts.lost == 4


def test_a_hanging_runner_times_out_and_is_replaced(make_group, tmp_path):
    env = functools.partial(FailingCartPole, fail_at=3, once_marker=str(tmp_path / "hung"), hang_s=600)
    group = make_group(ppo_spec(0, "numpy"), env, 2, seed=0, sample_timeout_s=5)
    rollouts = group.sample(5)
    assert len(rollouts) == 1
    [failure] = group.failures
    assert "TimeoutError" in failure.reason and failure.runner_id != rollouts[0].runner_id
    assert group.wait_until_healthy(timeout_s=120)
    assert len(group.sample(5)) == 2
    assert group.counts == SampleCounts(requested=4, received=3, lost=1, restarts=1)


def test_runners_refuse_mismatched_weights_loudly(make_group):
    group = make_group(ppo_spec(0, "numpy"), "CartPole-v1", 1)
    with pytest.raises(ValueError, match="refused the weights"):
        group.sync_weights({"not.a.parameter": np.zeros(3, np.float32)}, wait=True)
    assert group.counts.restarts == 0  # not a runner fault: nothing was restarted


def test_split_envs_and_bad_arguments(ray_instance):
    from rlmodule_core.distributed import split_envs

    assert split_envs(5, 2) == [3, 2]
    with pytest.raises(ValueError, match="num_envs >= num_env_runners"):
        split_envs(1, 2)
    with pytest.raises(ValueError, match="running Ray instance has 2"):
        EnvRunnerGroup(ppo_spec(0, "numpy"), "CartPole-v1", 3)
