"""DQN over a MultiRLModule: one replay buffer, loss, optimizer and target network per trained module."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlmodule_core.columns import Columns
from rlmodule_core.train.algorithms.dqn import DQN, DQNConfig, DQNLearner
from rlmodule_core.train.algorithms.replay_buffer import ReplayBuffer
from rlmodule_core.train.multi_agent.base import MultiAgentAlgorithm

__all__ = ["MultiAgentDQN"]


class MultiAgentDQN(MultiAgentAlgorithm):
    """DQN for every module in ``policies_to_train``; each learns from the transitions of its agents.

    Every env step adds each trained module's agent transitions to that module's replay
    buffer; after ``learning_starts`` env steps each step is followed by
    ``updates_per_step`` updates, each stepping every trained module once on a sample of
    its own buffer. One-step TD targets (``n_step=1``).

    Example:
        >>> algo = MultiAgentDQN(DQNConfig(), "MultiAgentCartPole-v1", framework="torch")
        >>> algo.train_iteration(env_steps=1_000)["default_policy/loss"]
    """

    config_class = DQNConfig
    learner_class = DQNLearner
    single_agent_class = DQN

    def __init__(self, config: DQNConfig, env: Any, **kwargs: Any) -> None:
        if config.n_step != 1:
            raise ValueError(
                f"Multi-agent DQN uses one-step targets; received n_step={config.n_step}. Set n_step = 1."
            )
        super().__init__(config, env, **kwargs)
        self.buffers = {
            module_id: ReplayBuffer(config.buffer_size, 1, gamma=config.gamma) for module_id in self.policies_to_train
        }
        self._rng = np.random.default_rng(self.seed)

    def model_config(self) -> dict[str, Any]:
        return {**super().model_config(), "epsilon": self.config.epsilon}

    def train_iteration(self, env_steps: int = 1_000) -> dict[str, Any]:
        """``env_steps`` env steps (per env copy), each followed by ``updates_per_step`` updates."""
        c = self.config
        totals: dict[str, float] = {}
        updates = 0
        for _ in range(max(env_steps // self.num_envs, 1)):
            segments = self.sample(1, t=self.num_env_steps)
            for module_id, buffer in self.buffers.items():
                for seg in segments.get(module_id, ()):
                    for t in range(len(seg[Columns.REWARDS])):
                        buffer.add(*(np.asarray(seg[k][t])[None] for k in (
                            Columns.OBS, Columns.ACTIONS, Columns.REWARDS, Columns.NEXT_OBS,
                            Columns.TERMINATEDS, Columns.TRUNCATEDS)))
            if self.num_env_steps <= c.learning_starts:
                continue
            ready = {m: b for m, b in self.buffers.items() if len(b)}
            for _ in range(c.updates_per_step):
                batch = {m: b.sample(c.train_batch_size, self._rng) for m, b in ready.items()}
                for module_id, metrics in self.learner.update(batch).items():
                    for key, value in metrics.items():
                        totals[f"{module_id}/{key}"] = totals.get(f"{module_id}/{key}", 0.0) + value
                updates += 1
        totals = {k: v / max(updates, 1) for k, v in totals.items()}
        self.iteration += 1
        first = self.module[next(iter(self.module.keys()))]
        totals.update(
            iteration=self.iteration, env_steps=self.num_env_steps, num_updates=self.learner.num_updates,
            epsilon=first.epsilon(self.num_env_steps), **self._return_metrics(),
        )
        return totals
