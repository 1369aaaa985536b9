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
    computes GAE along every agent's trajectory, and runs ``num_epochs`` epochs. The
    minibatch size is the single-agent one (``num_envs * rollout_length //
    num_minibatches``); a module's data is the agent steps it acted in, so a module with
    more data (a shared module) gets more minibatches per epoch (the last one wraps around
    the shuffled data). Each update steps every trained module that still has a minibatch once.

    Example:
        >>> algo = MultiAgentPPO(PPOConfig(), "MultiAgentCartPole-v1", framework="jax",
        ...                      multi_agent={"policies": "shared"})
        >>> algo.train_iteration()["default_policy/episode_return_mean"]
    """

    config_class = PPOConfig
    learner_class = PPOLearner
    single_agent_class = PPO
    supports_env_runners = True

    def check_spaces(self, observation_space: Any, action_space: Any) -> None:
        if self.model_config().get("use_lstm"):
            raise ValueError(
                "Multi-agent PPO does not train recurrent modules yet (it keeps no per-agent LSTM state); "
                "set model use_lstm = false."
            )
        super().check_spaces(observation_space, action_space)

    def _values_fn(self, module_id: str):
        sub = self.module[module_id]

        def values(obs: Any) -> np.ndarray:
            # Padded to a power of two: compiled backends (jax.jit, tf.function) then trace a
            # handful of batch sizes instead of one per rollout.
            size = _leading(obs)
            padded = _pad(obs, 1 << max(size - 1, 0).bit_length())
            out = sub.inference(sub.compute_values, {Columns.OBS: padded})
            return np.asarray(sub.backend.ops.to_numpy(out))[:size]

        return values

    def train_iteration(self) -> dict[str, Any]:
        """One rollout and the PPO epochs of every trained module on its part of it."""
        c = self.config
        if c.anneal_lr and self.total_env_steps:
            self.learner.learning_rate = c.lr * max(1.0 - self.num_env_steps / self.total_env_steps, 0.0)
        segments = self.sample(c.rollout_length)
        batches = {
            module_id: segments_gae(segments[module_id], self._values_fn(module_id), c.gamma, c.lambda_)
            for module_id in self.policies_to_train if module_id in segments
        }
        rng = np.random.default_rng((self.seed, self.iteration))
        totals: dict[str, float] = {}
        # A fixed minibatch size (the single-agent one), so that compiled backends see one
        # shape: a module with more data (a shared module, more agents) gets more
        # minibatches; the last minibatch of an epoch wraps around the shuffled order.
        size = max((c.num_envs * c.rollout_length) // c.num_minibatches, 1)
        lengths = {m: len(b[Columns.ADVANTAGES]) for m, b in batches.items()}
        counts = {m: -(-n // size) for m, n in lengths.items()}
        updates = {m: 0 for m in batches}
        for _ in range(c.num_epochs):
            orders = {m: rng.permutation(n) for m, n in lengths.items()}
            for k in range(max(counts.values(), default=0)):
                minibatches = {
                    m: _tree_index(batches[m], orders[m][np.arange(k * size, (k + 1) * size) % lengths[m]])
                    for m in batches if k < counts[m]
                }
                for module_id, metrics in self.learner.update(minibatches).items():
                    updates[module_id] += 1
                    for key, value in metrics.items():
                        totals[f"{module_id}/{key}"] = totals.get(f"{module_id}/{key}", 0.0) + value
        totals = {k: v / updates[k.split("/")[0]] for k, v in totals.items()}
        self.iteration += 1
        totals.update(
            iteration=self.iteration, env_steps=self.num_env_steps, learning_rate=self.learner.learning_rate,
            **self._return_metrics(),
        )
        return totals


def _leading(x: Any) -> int:
    while isinstance(x, dict | tuple):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return len(x)


def _pad(x: Any, size: int) -> Any:
    """Rows repeated from the first up to ``size`` rows (the extra outputs are dropped)."""
    if isinstance(x, dict):
        return {k: _pad(v, size) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(_pad(v, size) for v in x)
    if len(x) == size:
        return x
    return np.concatenate([x, np.repeat(x[:1], size - len(x), axis=0)])
