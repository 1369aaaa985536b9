"""Distributed sampling on Ray (the ``ray`` extra): env runners as actors.

Importing this package imports Ray; ``import rlmodule_core`` never does.

Example:
    >>> from rlmodule_core.distributed import EnvRunnerGroup
    >>> group = EnvRunnerGroup(spec, "CartPole-v1", num_runners=2, num_envs_per_runner=2, seed=0)
    >>> group.sync_weights(learner_module.get_state(inference_only=True))
    >>> rollouts = group.sample(128)        # one Rollout per runner, tagged with the version
"""

try:
    import ray  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "rlmodule_core.distributed needs Ray, which is not installed. Install the extra: "
        'pip install "rlmodule-core[ray]" (or train with --num-env-runners 0).'
    ) from err

from rlmodule_core.distributed.group import EnvRunnerGroup, RunnerFailure, SampleCounts, split_envs
from rlmodule_core.distributed.runner import RemoteEnvRunner
from rlmodule_core.distributed.sampler import RemoteSampler

__all__ = ["EnvRunnerGroup", "RemoteEnvRunner", "RemoteSampler", "RunnerFailure", "SampleCounts", "split_envs"]
