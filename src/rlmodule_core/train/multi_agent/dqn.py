"""DQN over a MultiRLModule: one replay buffer, loss, optimizer and target network per trained module."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlmodule_core.columns import Columns
from rlmodule_core.train.algorithms.dqn import DQN, DQNConfig, DQNLearner
from rlmodule_core.train.algorithms.replay_buffer import ReplayBuffer
from rlmodule_core.train.multi_agent.base import MultiAgentAlgorithm

__all__ = ["MultiAgentDQN"]

_STEP_KEYS = (Columns.OBS, Columns.ACTIONS, Columns.REWARDS, Columns.NEXT_OBS, Columns.TERMINATEDS, Columns.TRUNCATEDS)


class MultiAgentDQN(MultiAgentAlgorithm):
    """DQN for every module in ``policies_to_train``; each learns from the transitions of its agents.

    Each trained module's replay buffer gets the transitions of the agents mapped to it.
    N-step returns (``n_step``) run along each agent's own trajectory, keyed by
    ``(runner, episode, agent)``: they stop where that agent terminated, was truncated or
    left the env (the other agents' trajectories go on), exactly as single-agent DQN's stop
    at an episode's end. After ``learning_starts`` env steps each vector step (one step of
    every env copy) is followed by ``updates_per_step`` updates, each stepping every
    trained module once on a sample of its own buffer.

    With ``num_env_runners`` >= 1 each Ray runner samples ``rollout_fragment_length`` steps
    per env copy with the inference-only MultiRLModule (uploaded once per request); a
    runner that fails loses its batch and is replaced, and its agents' unfinished n-step
    returns are stored cut at the last step received (as at a truncation), so no return
    joins the dead runner's steps to its replacement's.

    Example:
        >>> algo = MultiAgentDQN(DQNConfig(n_step=3), "MultiAgentCartPole-v1", framework="torch")
        >>> algo.train_iteration(env_steps=1_000)["default_policy/loss"]
    """

    config_class = DQNConfig
    learner_class = DQNLearner
    single_agent_class = DQN
    supports_env_runners = True

    def __init__(self, config: DQNConfig, env: Any, **kwargs: Any) -> None:
        runners = int(kwargs.get("num_env_runners") or 0)
        if runners > config.num_envs:
            raise ValueError(
                f"Multi-agent DQN splits its num_envs={config.num_envs} env copies over the remote runners, so it "
                f"needs num_envs >= num_env_runners; received num_env_runners={runners}. Pass --set "
                f"num_envs={runners} (or more)."
            )
        if config.rollout_fragment_length < 1 or config.n_step < 1:
            raise ValueError(
                f"Expected rollout_fragment_length >= 1 and n_step >= 1; received "
                f"{config.rollout_fragment_length} and {config.n_step}."
            )
        super().__init__(config, env, **kwargs)
        self.buffers = {
            module_id: ReplayBuffer(config.buffer_size, 1, n_step=config.n_step, gamma=config.gamma)
            for module_id in self.policies_to_train
        }
        self._rng = np.random.default_rng(self.seed)
        self._failures_seen = 0

    def model_config(self) -> dict[str, Any]:
        return {**super().model_config(), "epsilon": self.config.epsilon}

    def _add(self, runner_id: int, segments: dict[str, list[dict[str, Any]]]) -> None:
        """Each trained module's agent steps into its buffer, one trajectory per (runner, episode, agent)."""
        for module_id, buffer in self.buffers.items():
            for seg in segments.get(module_id, ()):
                key = (runner_id, int(seg[Columns.EPS_ID]), str(seg[Columns.AGENT_ID]))
                for t in range(len(seg[Columns.REWARDS])):
                    buffer.add_step(key, *(seg[k][t] for k in _STEP_KEYS))

    def _end_lost_trajectories(self) -> None:
        """Stores, cut short, the unfinished n-step returns of runners that failed since the last call."""
        if self.group is None:
            return
        failed = {failure.runner_id for failure in self.group.failures[self._failures_seen:]}
        self._failures_seen = len(self.group.failures)
        for buffer in self.buffers.values():
            for key in buffer.open_trajectories:
                if key[0] in failed:
                    buffer.end_trajectory(key)

    def train_iteration(self, env_steps: int = 1_000) -> dict[str, Any]:
        """About ``env_steps`` env steps (over all env copies), ``updates_per_step`` updates per vector step.

        In one process every vector step is followed by its updates; with remote runners
        each request samples ``rollout_fragment_length`` steps per env copy, the
        transitions enter the buffers and the updates of those vector steps follow.
        """
        c = self.config
        totals: dict[str, float] = {}
        rounds = 0
        fragment = c.rollout_fragment_length if self.group is not None else 1
        target = self.num_env_steps + max(env_steps, self.num_envs)
        while self.num_env_steps < target:
            before = self.num_env_steps
            batches = self.sample_by_runner(fragment, t=self.num_env_steps)
            self._end_lost_trajectories()
            for runner_id, segments in batches:
                self._add(runner_id, segments)
            if self.num_env_steps <= c.learning_starts:
                continue
            ready = {m: b for m, b in self.buffers.items() if len(b)}
            vector_steps = max((self.num_env_steps - before) // self.num_envs, 1)
            for _ in range(vector_steps * c.updates_per_step):
                batch = {m: b.sample(c.train_batch_size, self._rng) for m, b in ready.items()}
                for module_id, metrics in self.learner.update(batch).items():
                    for key, value in metrics.items():
                        totals[f"{module_id}/{key}"] = totals.get(f"{module_id}/{key}", 0.0) + value
                rounds += 1
        totals = {k: v / max(rounds, 1) for k, v in totals.items()}
        self.iteration += 1
        first = self.module[next(iter(self.module.keys()))]
        totals.update(
            iteration=self.iteration, env_steps=self.num_env_steps, num_updates=self.learner.num_updates,
            epsilon=first.epsilon(self.num_env_steps), **self._return_metrics(),
        )
        return totals
