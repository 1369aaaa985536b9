"""PPO over a MultiRLModule: per-agent GAE, one PPO loss and optimizer per trained module."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlmodule_core.columns import Columns
from rlmodule_core.train.algorithms.ppo import PPO, PPOConfig, PPOLearner, _tree_index
from rlmodule_core.train.multi_agent.base import MultiAgentAlgorithm
from rlmodule_core.train.multi_agent.postprocessing import segments_gae

__all__ = ["MultiAgentPPO"]


class MultiAgentPPO(MultiAgentAlgorithm):
    """PPO for every module in ``policies_to_train``, on the trajectories of the agents it plays.

    Each iteration samples ``rollout_length`` steps in each of ``num_envs`` env copies,
    computes GAE along every agent's trajectory, and runs ``num_epochs`` x
    ``num_minibatches`` updates; each update steps every trained module once on a
    minibatch of its own data (a module's batch size is the number of agent steps it
    acted in).

    Example:
        >>> algo = MultiAgentPPO(PPOConfig(), "MultiAgentCartPole-v1", framework="jax",
        ...                      multi_agent={"policies": "shared"})
        >>> algo.train_iteration()["default_policy/episode_return_mean"]
    """

    config_class = PPOConfig
    learner_class = PPOLearner
    single_agent_class = PPO

    def _values_fn(self, module_id: str):
        sub = self.module[module_id]

        def values(obs: Any) -> np.ndarray:
            out = sub.inference(sub.compute_values, {Columns.OBS: obs})
            return np.asarray(sub.backend.ops.to_numpy(out))

        return values

    def train_iteration(self) -> dict[str, Any]:
        """One rollout and the PPO epochs of every trained module on its part of it."""
        c = self.config
        if c.anneal_lr and self.total_env_steps:
            self.learner.learning_rate = c.lr * max(1.0 - self.num_env_steps / self.total_env_steps, 0.0)
        segments = self.runner.sample(self.module, c.rollout_length)
        batches = {
            module_id: segments_gae(segments[module_id], self._values_fn(module_id), c.gamma, c.lambda_)
            for module_id in self.policies_to_train
            if module_id in segments and sum(len(s[Columns.REWARDS]) for s in segments[module_id]) >= c.num_minibatches
        }
        rng = np.random.default_rng((self.seed, self.iteration))
        totals: dict[str, float] = {}
        if batches:
            sizes = {m: len(b[Columns.ADVANTAGES]) for m, b in batches.items()}
            for _ in range(c.num_epochs):
                orders = {m: rng.permutation(n) for m, n in sizes.items()}
                for k in range(c.num_minibatches):
                    minibatches = {}
                    for module_id, batch in batches.items():
                        size = sizes[module_id] // c.num_minibatches
                        minibatches[module_id] = _tree_index(batch, orders[module_id][k * size:(k + 1) * size])
                    for module_id, metrics in self.learner.update(minibatches).items():
                        for key, value in metrics.items():
                            name = f"{module_id}/{key}"
                            totals[name] = totals.get(name, 0.0) + value / (c.num_epochs * c.num_minibatches)
        self.iteration += 1
        totals.update(
            iteration=self.iteration, env_steps=self.num_env_steps, learning_rate=self.learner.learning_rate,
            **self._return_metrics(),
        )
        return totals
