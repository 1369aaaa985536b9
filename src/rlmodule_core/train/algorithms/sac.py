"""SAC: twin Q critics with target networks, a squashed-Gaussian (or categorical) policy,
automatic entropy tuning and replay.

Read top to bottom: the config, the policy's reparameterized sample (written against
``ops``, with the Gaussian noise drawn in NumPy and passed in the batch so every backend
sees the same numbers), the loss, and the training iteration.

One optimizer trains the policy and the critics on the sum of their losses: the critic
loss reaches only the critics (its targets are constants), and the policy loss reaches
only the policy because it uses ``Q(s, a) - Q(s, stop_gradient(a))`` in place of
``Q(s, a)``: same gradient with respect to the action, none with respect to the critic's
weights. The temperature ``alpha`` is tuned in NumPy (an Adam step on ``log alpha`` from
the batch's mean log-probability) and enters the loss as a batch column.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core.columns import Columns
from rlmodule_core.modules import DefaultSACRLModule
from rlmodule_core.modules.sac import SAC_DEFAULTS
from rlmodule_core.train.algorithms.base import Algorithm
from rlmodule_core.train.algorithms.replay_buffer import ReplayBuffer
from rlmodule_core.train.learner import Learner, LearnerConfig

__all__ = ["SAC", "SACConfig", "SACLearner", "squashed_gaussian_rsample"]

_LOG2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclasses.dataclass
class SACConfig(LearnerConfig):
    """SAC's settings (defaults solve Pendulum-v1).

    Attributes:
        tau: polyak coefficient of the target critics, synced after every update.
        num_envs: environments stepped in parallel.
        buffer_size: replay capacity (transitions).
        learning_starts: env steps (with uniformly random actions) before the first update.
        train_batch_size: transitions per update.
        updates_per_step: gradient updates per vector-env step once learning started.
        gamma: discount.
        n_step: n-step returns.
        initial_alpha: the starting temperature.
        target_entropy: the entropy alpha is tuned towards; None: -action_dim for Box
            actions, 0.98 * log(num_actions) * ``discrete_entropy_scale`` for Discrete.
        alpha_lr: Adam learning rate of log alpha.
        model: model_config of the DefaultSACRLModule.
    """

    lr: float = 1e-3
    grad_clip: float | None = None
    tau: float = 0.005
    target_update_frequency: int = 1
    num_envs: int = 1
    buffer_size: int = 100_000
    learning_starts: int = 1_000
    train_batch_size: int = 256
    updates_per_step: int = 1
    gamma: float = 0.99
    n_step: int = 1
    initial_alpha: float = 1.0
    target_entropy: float | None = None
    alpha_lr: float = 1e-3
    model: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"fcnet_hiddens": [256, 256], "fcnet_activation": "relu"}
    )


def squashed_gaussian_rsample(ops, inputs, noise, low: np.ndarray, high: np.ndarray) -> tuple[Any, Any]:
    """``(action, logp)`` of ``action = center + scale * tanh(mean + std * noise)``.

    ``inputs`` are ``concat(mean, log_std)`` (B, 2n), ``noise`` standard normal (B, n);
    the log-probability uses the stable ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``.
    Differentiable in ``inputs`` (the reparameterization trick).

    Example:
        >>> actions, logp = squashed_gaussian_rsample(ops, inputs, noise, space.low, space.high)
    """
    mean, log_std = ops.split(inputs, 2, axis=-1)
    u = mean + ops.exp(log_std) * noise
    center = ops.asarray(((high + low) / 2).astype(np.float32))
    scale = ops.asarray(((high - low) / 2).astype(np.float32))
    log_scale = ops.asarray(np.log((high - low) / 2).astype(np.float32))
    gauss = -0.5 * ops.square(noise) - log_std - _HALF_LOG_2PI
    log_det = 2.0 * (_LOG2 - u - ops.softplus(-2.0 * u)) + log_scale
    return center + scale * ops.tanh(u), ops.sum(gauss - log_det, axis=-1)


def _min_q(ops, out: dict[str, Any]) -> Any:
    q = out["qf_preds"]
    return ops.minimum(q, out["qf_twin_preds"]) if "qf_twin_preds" in out else q


def _pick(ops, values, index):
    index = ops.reshape(ops.cast(index, "int64"), (-1, 1))
    return ops.squeeze(ops.take_along_axis(values, index, axis=1), 1)


class SACLearner(Learner):
    """The SAC loss: critic TD error against entropy-regularized targets, plus the policy loss.

    The batch carries ``"alpha"`` (B,) and, for Box actions, standard normal ``"noise"`` and
    ``"noise_next"`` (B, action_dim).
    """

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out, module):
        ops = module.ops
        alpha = batch["alpha"]
        not_done = 1.0 - batch[Columns.TERMINATEDS]
        discount = batch["discounts"] * not_done
        if isinstance(module.action_space, gym.spaces.Box):
            low, high = module.action_space.low, module.action_space.high
            a_next, logp_next = squashed_gaussian_rsample(
                ops, fwd_out["action_dist_inputs_next"], batch["noise_next"], low, high
            )
            target_q = _min_q(ops, module.forward_target({Columns.OBS: batch[Columns.NEXT_OBS], Columns.ACTIONS: a_next}))
            v_next = target_q - alpha * logp_next
            actions, logp = squashed_gaussian_rsample(
                ops, fwd_out[Columns.ACTION_DIST_INPUTS], batch["noise"], low, high
            )
            q_pi = _min_q(ops, module.compute_q_values({Columns.OBS: batch[Columns.OBS], Columns.ACTIONS: actions}))
            q_frozen = _min_q(ops, module.compute_q_values(
                {Columns.OBS: batch[Columns.OBS], Columns.ACTIONS: ops.stop_gradient(actions)}
            ))
            # Q(s, a) - Q(s, sg(a)): zero in value, d/da as Q's, nothing for the critic's weights.
            policy_loss = ops.mean(alpha * logp - (q_pi - q_frozen + ops.stop_gradient(q_frozen)))
            mean_logp = ops.mean(logp)
            q_data = fwd_out  # forward_train's Q(s, a) of the batch's actions
        else:
            next_logits = fwd_out["action_dist_inputs_next"]
            p_next, logp_next = ops.softmax(next_logits, axis=-1), ops.log_softmax(next_logits, axis=-1)
            target_q = _min_q(ops, module.forward_target({Columns.OBS: batch[Columns.NEXT_OBS]}))
            v_next = ops.sum(p_next * (target_q - ops.expand_dims(alpha, -1) * logp_next), axis=-1)
            logits = fwd_out[Columns.ACTION_DIST_INPUTS]
            probs, logp_all = ops.softmax(logits, axis=-1), ops.log_softmax(logits, axis=-1)
            q_all = module.compute_q_values({Columns.OBS: batch[Columns.OBS]})
            q_min = ops.stop_gradient(_min_q(ops, q_all))
            policy_loss = ops.mean(ops.sum(probs * (ops.expand_dims(alpha, -1) * logp_all - q_min), axis=-1))
            mean_logp = ops.mean(ops.sum(probs * logp_all, axis=-1))
            q_data = {k: _pick(ops, v, batch[Columns.ACTIONS]) for k, v in q_all.items()}
        target = ops.stop_gradient(batch[Columns.REWARDS] + discount * v_next)
        critic_loss = 0.5 * ops.mean(ops.square(q_data["qf_preds"] - target))
        if "qf_twin_preds" in q_data:
            critic_loss = critic_loss + 0.5 * ops.mean(ops.square(q_data["qf_twin_preds"] - target))
        metrics = {
            "critic_loss": critic_loss, "policy_loss": policy_loss, "logp_mean": ops.stop_gradient(mean_logp),
            "q_mean": ops.mean(q_data["qf_preds"]),
        }
        return critic_loss + policy_loss, metrics


class SAC(Algorithm):
    """Soft Actor-Critic with a DefaultSACRLModule on any backend (Box or Discrete actions)."""

    config_class = SACConfig
    learner_class = SACLearner
    module_class = DefaultSACRLModule
    extra_model_keys = tuple(SAC_DEFAULTS)

    def __init__(self, config: SACConfig, env, **kwargs: Any) -> None:
        super().__init__(config, env, **kwargs)
        space = self.runner.action_space
        self._continuous = isinstance(space, gym.spaces.Box)
        self._action_dim = int(space.shape[0]) if self._continuous else int(space.n)
        if config.target_entropy is not None:
            self.target_entropy = float(config.target_entropy)
        else:
            self.target_entropy = -float(self._action_dim) if self._continuous else 0.98 * math.log(self._action_dim)
        self.buffer = ReplayBuffer(config.buffer_size, self.num_envs, n_step=config.n_step, gamma=config.gamma)
        self._rng = np.random.default_rng((self.seed, 1))
        self._random_actions = np.random.default_rng((self.seed, 2))
        self.log_alpha = math.log(config.initial_alpha)
        self._alpha_adam = [0.0, 0.0, 0]  # first moment, second moment, steps

    def check_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        continuous = isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1
        if continuous and not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise ValueError(
                f"SAC squashes actions onto the action bounds; the environment's Box has infinite bounds "
                f"({action_space!r}). Wrap the env to give it finite bounds, or use --algo ppo."
            )
        if not (continuous or isinstance(action_space, gym.spaces.Discrete)):
            raise ValueError(
                f"SAC needs a 1-D Box or a Discrete action space; the environment has {action_space!r}. "
                "Use --algo ppo for other action spaces."
            )
        if not isinstance(observation_space, gym.spaces.Box | gym.spaces.Discrete):
            raise ValueError(
                f"The SAC trainer's replay buffer stores array observations; received {observation_space!r}."
            )
        if self.model_config().get("use_lstm"):
            raise ValueError("The SAC trainer does not support use_lstm=True; set model.use_lstm=false.")

    @property
    def alpha(self) -> float:
        return math.exp(self.log_alpha)

    def _update_alpha(self, logp_mean: float) -> None:
        # d/d(log alpha) of -log_alpha * (logp + target_entropy), with Adam on the scalar.
        grad = -(logp_mean + self.target_entropy)
        m, v, t = self._alpha_adam
        t += 1
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        step = self.config.alpha_lr * (m / (1 - 0.9**t)) / (math.sqrt(v / (1 - 0.999**t)) + 1e-8)
        self.log_alpha -= step
        self._alpha_adam = [m, v, t]

    def _train_batch(self) -> dict[str, Any]:
        c = self.config
        batch = self.buffer.sample(c.train_batch_size, self._rng)
        batch["alpha"] = np.full(c.train_batch_size, self.alpha, np.float32)
        if self._continuous:
            shape = (c.train_batch_size, self._action_dim)
            batch["noise"] = self._rng.standard_normal(shape).astype(np.float32)
            batch["noise_next"] = self._rng.standard_normal(shape).astype(np.float32)
        return batch

    def _random_step(self) -> dict[str, Any]:
        """One vector-env step with uniformly random actions (before learning starts)."""
        runner = self.runner
        space = runner.action_space
        if self._continuous:
            actions = self._random_actions.uniform(space.low, space.high, (runner.num_envs, self._action_dim))
            actions = actions.astype(np.float32)
        else:
            actions = self._random_actions.integers(0, space.n, runner.num_envs)
        return runner.step_with(actions)

    def train_iteration(self, env_steps: int = 1_000) -> dict[str, Any]:
        """``env_steps`` environment steps, each followed by ``updates_per_step`` updates."""
        c = self.config
        totals: dict[str, float] = {}
        updates = 0
        for _ in range(max(env_steps // self.num_envs, 1)):
            if self.num_env_steps < c.learning_starts:
                step = self._random_step()
            else:
                step = self.runner.sample(self.module, 1)
            self.buffer.add(*(step[k][0] for k in (Columns.OBS, Columns.ACTIONS, Columns.REWARDS,
                                                   Columns.NEXT_OBS, Columns.TERMINATEDS, Columns.TRUNCATEDS)))
            if self.num_env_steps < c.learning_starts:
                continue
            for _ in range(c.updates_per_step):
                metrics = self.learner.update(self._train_batch())
                self._update_alpha(float(metrics["logp_mean"]))
                updates += 1
                for key, value in metrics.items():
                    totals[key] = totals.get(key, 0.0) + value
        totals = {k: v / max(updates, 1) for k, v in totals.items()}
        self.iteration += 1
        returns = self.runner.episode_returns
        totals.update(
            iteration=self.iteration,
            env_steps=self.num_env_steps,
            episode_return_mean=float(np.mean(returns)) if returns else float("nan"),
            alpha=self.alpha,
            num_updates=self.learner.num_updates,
        )
        return totals

    def _extra_state(self) -> dict[str, Any]:
        m, v, t = self._alpha_adam
        return {"log_alpha": self.log_alpha, "alpha_adam": [m, v, t]}

    def _set_extra_state(self, extra: dict[str, Any]) -> None:
        self.log_alpha = float(extra["log_alpha"])
        m, v, t = extra["alpha_adam"]
        self._alpha_adam = [float(m), float(v), int(t)]
