"""DQN: replay, (n-step) TD targets from target networks, double Q, dueling, C51.

Read top to bottom: the config, the loss written once against ``ops`` (Huber TD loss,
or the categorical cross-entropy of distributional DQN with its projection written
densely so that it needs no scatter), and the training iteration.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core.columns import Columns
from rlmodule_core.modules import DefaultDQNRLModule
from rlmodule_core.modules.dqn import DQN_DEFAULTS
from rlmodule_core.train.algorithms.base import Algorithm
from rlmodule_core.train.algorithms.replay_buffer import ReplayBuffer
from rlmodule_core.train.learner import Learner, LearnerConfig

__all__ = ["DQN", "DQNConfig", "DQNLearner"]


@dataclasses.dataclass
class DQNConfig(LearnerConfig):
    """DQN's settings (defaults reach a return above 200 on CartPole-v1).

    Attributes:
        num_envs: environments stepped in parallel.
        buffer_size: replay capacity (transitions).
        learning_starts: env steps before the first update.
        train_batch_size: transitions per update.
        updates_per_step: gradient updates per vector-env step once learning started.
        gamma: discount.
        n_step: n-step returns.
        epsilon: piecewise-linear exploration schedule over env steps.
        target_update_frequency: updates between target syncs (hard copy with tau=1).
        rollout_fragment_length: env steps per env that each remote runner samples per
            request (with ``num_env_runners`` >= 1; in one process every step is followed by
            its updates). Either way there are ``updates_per_step`` updates per vector step.
        model: model_config of the DefaultDQNRLModule (dueling, double_q, num_atoms, ...).
    """

    lr: float = 5e-4
    grad_clip: float | None = 10.0
    tau: float = 1.0
    target_update_frequency: int = 250
    num_envs: int = 1
    buffer_size: int = 50_000
    learning_starts: int = 1_000
    train_batch_size: int = 64
    updates_per_step: int = 1
    gamma: float = 0.99
    n_step: int = 1
    rollout_fragment_length: int = 50
    epsilon: list[list[float]] = dataclasses.field(default_factory=lambda: [[0, 1.0], [10_000, 0.02]])
    model: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"fcnet_hiddens": [128, 128], "fcnet_activation": "relu",
                                 "dueling": True, "double_q": True}
    )


def _huber(ops, x):
    absolute = ops.abs(x)
    return ops.where(absolute < 1.0, 0.5 * ops.square(x), absolute - 0.5)


def _pick(ops, values, index):
    """``values[b, index[b]]`` for values (B, A) or (B, A, atoms)."""
    index = ops.reshape(ops.cast(index, "int64"), (-1, 1))
    if len(ops.shape(values)) == 3:
        index = ops.broadcast_to(ops.expand_dims(index, -1), (ops.shape(values)[0], 1, ops.shape(values)[2]))
    return ops.squeeze(ops.take_along_axis(values, index, axis=1), 1)


class DQNLearner(Learner):
    """The DQN loss: Huber TD error, or C51's cross-entropy when the module has atoms."""

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out, module):
        ops = module.ops
        actions = batch[Columns.ACTIONS]
        # Which next action to bootstrap: the online net's choice (double Q) or the target's.
        chooser = fwd_out.get("qf_next_preds", fwd_out["qf_target_next_preds"])
        next_actions = ops.argmax(chooser, axis=-1)
        not_done = 1.0 - batch[Columns.TERMINATEDS]
        discount = batch["discounts"] * not_done
        if "qf_logits" not in fwd_out:
            q = _pick(ops, fwd_out["qf_preds"], actions)
            q_next = ops.stop_gradient(_pick(ops, fwd_out["qf_target_next_preds"], next_actions))
            td = q - (batch[Columns.REWARDS] + discount * q_next)
            loss = ops.mean(_huber(ops, td))
            return loss, {"q_mean": ops.mean(q), "td_abs": ops.mean(ops.abs(td))}

        atoms = fwd_out["atoms"]
        support = module.support
        v_min, v_max = support[0], support[-1]
        delta = (v_max - v_min) / (len(support) - 1)
        p_next = ops.stop_gradient(_pick(ops, fwd_out["qf_target_next_probs"], next_actions))  # (B, N)
        projected = ops.clip(
            ops.expand_dims(batch[Columns.REWARDS], -1) + ops.expand_dims(discount, -1) * atoms, v_min, v_max
        )
        # m_i = sum_j p_j * max(0, 1 - |Tz_j - z_i| / delta): the C51 projection, densely.
        weights = ops.clip(
            1.0 - ops.abs(ops.expand_dims(projected, 1) - ops.reshape(atoms, (1, -1, 1))) / delta, 0.0, 1.0
        )
        target = ops.sum(weights * ops.expand_dims(p_next, 1), axis=-1)
        log_p = ops.log_softmax(_pick(ops, fwd_out["qf_logits"], actions), axis=-1)
        loss = -ops.mean(ops.sum(target * log_p, axis=-1))
        return loss, {"q_mean": ops.mean(_pick(ops, fwd_out["qf_preds"], actions))}


class DQN(Algorithm):
    """Deep Q-learning with a DefaultDQNRLModule on any backend."""

    config_class = DQNConfig
    learner_class = DQNLearner
    module_class = DefaultDQNRLModule
    extra_model_keys = tuple(DQN_DEFAULTS)
    supports_env_runners = True

    def __init__(self, config: DQNConfig, env, **kwargs: Any) -> None:
        runners = int(kwargs.get("num_env_runners") or 0)
        if runners > config.num_envs:
            raise ValueError(
                f"DQN splits its num_envs={config.num_envs} env(s) over the remote runners, so it needs "
                f"num_envs >= num_env_runners; received num_env_runners={runners}. Pass --set num_envs={runners} "
                "(or more)."
            )
        if config.rollout_fragment_length < 1:
            raise ValueError(f"Expected rollout_fragment_length >= 1; received {config.rollout_fragment_length}.")
        super().__init__(config, env, **kwargs)
        self.buffer = ReplayBuffer(config.buffer_size, self.num_envs, n_step=config.n_step, gamma=config.gamma)
        self._rng = np.random.default_rng(self.seed)
        self._remote = runners > 0
        # Runner r's envs fill the buffer's n-step slots from offsets[r] on.
        self._envs = [self.num_envs] if not runners else _split(self.num_envs, runners)
        self._offsets = np.concatenate([[0], np.cumsum(self._envs)[:-1]]).astype(int).tolist()
        self._failures_seen = 0

    def model_config(self) -> dict[str, Any]:
        """The config's ``model`` plus the epsilon schedule the module explores with."""
        return {**super().model_config(), "epsilon": self.config.epsilon}

    def check_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ValueError(
                f"DQN needs a Discrete action space; the environment has {action_space!r}. "
                "Use --algo ppo for continuous actions."
            )
        if not isinstance(observation_space, gym.spaces.Box | gym.spaces.Discrete):
            raise ValueError(
                f"The DQN trainer's replay buffer stores array observations; received {observation_space!r}."
            )

    def _add(self, rollout: Any) -> None:
        data, offset = rollout.data, self._offsets[rollout.runner_id]
        keys = (Columns.OBS, Columns.ACTIONS, Columns.REWARDS, Columns.NEXT_OBS, Columns.TERMINATEDS,
                Columns.TRUNCATEDS)
        for t in range(len(data[Columns.REWARDS])):
            self.buffer.add(*(data[k][t] for k in keys), offset=offset)

    def _end_lost_trajectories(self) -> None:
        """Stores, cut short, the unfinished n-step returns of the envs of runners that failed.

        A replacement runner starts new episodes in the same buffer slots; without this its
        first steps would extend the failed runner's last, unrelated ones.
        """
        group = getattr(self.sampler, "group", None)
        if group is None:
            return
        for failure in group.failures[self._failures_seen:]:
            start = self._offsets[failure.runner_id]
            for slot in range(start, start + self._envs[failure.runner_id]):
                self.buffer.end_trajectory(slot)
        self._failures_seen = len(group.failures)

    def train_iteration(self, env_steps: int = 1_000) -> dict[str, Any]:
        """About ``env_steps`` environment steps, with ``updates_per_step`` updates per vector step.

        In one process each vector step is followed by its updates; with remote runners each
        runner samples ``rollout_fragment_length`` steps per env with the current weights
        (broadcast before every request), the transitions go into the replay buffer and the
        updates follow.
        """
        c = self.config
        totals: dict[str, float] = {}
        updates = 0
        fragment = c.rollout_fragment_length if self._remote else 1
        target = self.num_env_steps + max(env_steps, self.num_envs)
        while self.num_env_steps < target:
            rollouts = self.sampler.sample(fragment, t=self.num_env_steps)
            self._end_lost_trajectories()
            for rollout in rollouts:
                self._add(rollout)
            if self.num_env_steps <= c.learning_starts:
                continue
            vector_steps = sum(r.env_steps for r in rollouts) // self.num_envs
            for _ in range(max(vector_steps, 1) * c.updates_per_step):
                metrics = self.learner.update(self.buffer.sample(c.train_batch_size, self._rng))
                updates += 1
                for key, value in metrics.items():
                    totals[key] = totals.get(key, 0.0) + value
        totals = {k: v / max(updates, 1) for k, v in totals.items()}
        self.iteration += 1
        returns = self.sampler.episode_returns
        totals.update(
            iteration=self.iteration,
            env_steps=self.num_env_steps,
            episode_return_mean=float(np.mean(returns)) if returns else float("nan"),
            epsilon=self.module.epsilon(self.num_env_steps),
            num_updates=self.learner.num_updates,
            **self.sampler.metrics(),
        )
        return totals


def _split(num_envs: int, runners: int) -> list[int]:
    from rlmodule_core.distributed import split_envs

    return list(split_envs(num_envs, runners))
