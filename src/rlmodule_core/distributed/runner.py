"""The body of one remote env runner: an ``EnvRunner`` and an inference-only module.

The class is plain Python (no Ray import): ``EnvRunnerGroup`` turns it into an actor.
It builds its module from the JSON form of an ``RLModuleSpec``, so an actor needs only
the module's import path, never a pickled module, and always slims it to
``inference_only=True``: a runner never holds value heads, critics or targets.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from rlmodule_core.backend import registry
from rlmodule_core.columns import Columns
from rlmodule_core.spec import RLModuleSpec
from rlmodule_core.train.env_runner import EnvRunner, EnvSpec
from rlmodule_core.train.sampling import Rollout

__all__ = ["RemoteEnvRunner"]


class RemoteEnvRunner:
    """Samples with an inference-only module built from a JSON spec.

    Example:
        >>> runner = RemoteEnvRunner(0, spec.to_dict(), "CartPole-v1", num_envs=2, seed=0)
        >>> runner.set_weights(learner_module.get_state(inference_only=True), version=1)
        >>> rollout = runner.sample(128, seq=0)    # rollout.weights_version == 1
    """

    def __init__(
        self, runner_id: int, spec: Mapping[str, Any], env: EnvSpec, num_envs: int, seed: int | None = None,
        threads: int | None = 1,
    ) -> None:
        self.runner_id = runner_id
        if threads is not None:  # before the module exists: TF and JAX fix their pools at their first op
            registry.get_backend(spec["framework"]).set_threads(threads)
        if seed is not None:  # this runner's draws without an explicit rng (DQN's exploration)
            registry.get_backend(spec["framework"]).seed(seed)
        # The spec comes from the driver (the user's own code), not from a file: its class
        # may need importing in this worker process, so it is trusted.
        self.module = RLModuleSpec.from_dict(
            {**spec, "inference_only": True, "learner_only": False}, trust_code=True
        ).build()
        self.runner = EnvRunner(env, num_envs, seed=seed)
        if (self.runner.observation_space, self.runner.action_space) != (
            self.module.observation_space, self.module.action_space,
        ):
            raise ValueError(
                f"The module spec's spaces ({self.module.observation_space}, {self.module.action_space}) "
                f"do not match the environment's ({self.runner.observation_space}, "
                f"{self.runner.action_space}). Build the spec from the env the runners step."
            )
        # Drained after every batch, so unbounded: each finished episode is reported once.
        self.runner.episode_returns = deque()
        #: 0: the spec's initial weights; then the version of the last ``set_weights``.
        self.weights_version = 0

    def ping(self) -> int:
        """Returns the runner id once the actor is constructed."""
        return self.runner_id

    def set_weights(self, state: Mapping[str, Any], version: int) -> int:
        """Loads ``state`` (strictly) and records ``version``; returns it as the acknowledgement."""
        self.module.set_state(state)
        self.weights_version = version
        return version

    def sample(self, num_steps: int, seq: int, **forward_kwargs: Any) -> Rollout:
        """``num_steps`` steps of every env with ``forward_exploration``, tagged ``(runner_id, seq)``;
        ``forward_kwargs`` reach ``forward_exploration`` (e.g. DQN's ``t`` for epsilon)."""
        data = self.runner.sample(self.module, num_steps, **forward_kwargs)
        returns = [float(r) for r in self.runner.episode_returns]
        self.runner.episode_returns.clear()
        return Rollout(data, runner_id=self.runner_id, seq=seq, weights_version=self.weights_version,
                       env_steps=num_steps * self.runner.num_envs, episode_returns=returns)

    def forward_inference(self, obs: Any) -> dict[str, np.ndarray]:
        """The module's ``forward_inference`` outputs on ``obs`` as NumPy (to compare with the learner)."""
        out = self.module.forward_inference({Columns.OBS: obs})
        return {k: np.asarray(self.module.backend.ops.to_numpy(v)) for k, v in out.items()}

    def apply(self, func: Callable[[RemoteEnvRunner], Any]) -> Any:
        """Runs ``func(self)`` in the actor and returns its result."""
        return func(self)
