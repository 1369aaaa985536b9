"""Reference SAC for continuous control in plain PyTorch (single file, CleanRL style).

The yardstick rlmodule-core's SAC is measured against, so it uses nothing from the
library: twin Q critics with Polyak-averaged targets, a tanh-squashed Gaussian actor,
automatic entropy tuning, a uniform replay buffer and uniformly random warm-up steps.
Hyperparameters are the library's ``SACConfig`` defaults (and its default SAC model:
256x256 ReLU networks, log-std clipped to [-20, 20]), so a gap between the two is the
implementation's, not the settings'.

Usage:
    python benchmarks/reference_sac_torch.py --env HalfCheetah-v5 --seed 1 --total-timesteps 20000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import deque

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# SACConfig's defaults.
LEARNING_RATE = 1e-3  # actor and critics
ALPHA_LR = 1e-3
INITIAL_ALPHA = 1.0
TAU = 0.005  # Polyak coefficient, targets synced after every update
GAMMA = 0.99
BUFFER_SIZE = 100_000
BATCH_SIZE = 256
LEARNING_STARTS = 1_000  # uniformly random actions before the first update
HIDDEN = 256
LOG_STD_CLIP = 20.0  # the default model config's log_std_clip_param
HELDOUT_SEED = 9_000_000


def mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, out_dim)
    )


class Actor(nn.Module):
    """A Gaussian over pre-squash actions, tanh-squashed onto the action bounds."""

    def __init__(self, obs_dim: int, action_dim: int, low: np.ndarray, high: np.ndarray):
        super().__init__()
        self.net = mlp(obs_dim, 2 * action_dim)
        # A small output layer starts the policy near mean 0, std 1 (as the library's head).
        nn.init.orthogonal_(self.net[-1].weight, 0.01)
        nn.init.zeros_(self.net[-1].bias)
        self.register_buffer("center", torch.as_tensor((high + low) / 2, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor((high - low) / 2, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        return mean, log_std.clamp(-LOG_STD_CLIP, LOG_STD_CLIP)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterized action and its log-probability under the squashed distribution."""
        mean, log_std = self(obs)
        noise = torch.randn_like(mean)
        u = mean + log_std.exp() * noise
        gauss = -0.5 * noise.pow(2) - log_std - 0.5 * np.log(2 * np.pi)
        # log |d action / d u| = log scale + log(1 - tanh(u)^2), written stably.
        log_det = 2.0 * (np.log(2.0) - u - F.softplus(-2.0 * u)) + self.scale.log()
        return self.center + self.scale * torch.tanh(u), (gauss - log_det).sum(-1)

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.center + self.scale * torch.tanh(self(obs)[0])


class Critic(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int):
        super().__init__()
        self.net = mlp(obs_dim + action_dim, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, action], dim=-1)).squeeze(-1)


class Replay:
    """A ring buffer of single-step transitions, sampled uniformly with replacement."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int):
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, action_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.float32)
        self.capacity, self.pos, self.size = capacity, 0, 0

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, terminated
        self.pos, self.size = (i + 1) % self.capacity, min(self.size + 1, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, self.size, n)
        return tuple(torch.as_tensor(a[idx]) for a in (self.obs, self.actions, self.rewards, self.next_obs,
                                                       self.terminated))


@torch.no_grad()
def evaluate(actor: Actor, env_id: str, n_episodes: int, seed: int, n_envs: int = 10) -> list[float]:
    """Greedy (tanh of the mean) returns of ``n_episodes`` episodes on fresh envs stepped
    together (env i seeded seed + i), each playing a fixed share of the episodes."""
    n_envs = min(n_envs, n_episodes)
    envs = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    quota = [n_episodes // n_envs + (i < n_episodes % n_envs) for i in range(n_envs)]
    returns: list[list[float]] = [[] for _ in range(n_envs)]
    totals = np.zeros(n_envs)
    obs, _ = envs.reset(seed=[seed + i for i in range(n_envs)])
    while any(len(r) < q for r, q in zip(returns, quota)):
        action = actor.greedy(torch.as_tensor(obs, dtype=torch.float32)).numpy()
        obs, reward, terminated, truncated, _ = envs.step(action)
        totals += reward
        for i in np.flatnonzero(terminated | truncated):
            if len(returns[i]) < quota[i]:
                returns[i].append(float(totals[i]))
            totals[i] = 0.0
    envs.close()
    return [r for per_env in returns for r in per_env]


def run(
    seed: int = 1,
    total_timesteps: int = 20_000,
    torch_threads: int | None = None,
    env_id: str = "HalfCheetah-v5",
    eval_episodes: int = 10,
    heldout_seed: int = HELDOUT_SEED,
) -> dict:
    """Trains for ``total_timesteps`` env steps (one update per step after the warm-up), then
    evaluates the greedy policy on ``eval_episodes`` held-out episodes (seeds from
    ``heldout_seed``). ``steps_per_s`` is training throughput (the final evaluation excluded)."""
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    env = gym.make(env_id)
    space = env.action_space
    obs_dim, action_dim = int(np.prod(env.observation_space.shape)), int(space.shape[0])
    actor = Actor(obs_dim, action_dim, space.low, space.high)
    q1, q2 = Critic(obs_dim, action_dim), Critic(obs_dim, action_dim)
    q1_target, q2_target = Critic(obs_dim, action_dim), Critic(obs_dim, action_dim)
    q1_target.load_state_dict(q1.state_dict())
    q2_target.load_state_dict(q2.state_dict())
    q_optimizer = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=LEARNING_RATE)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=LEARNING_RATE)
    target_entropy = -float(action_dim)
    log_alpha = torch.tensor(np.log(INITIAL_ALPHA), dtype=torch.float32, requires_grad=True)
    alpha_optimizer = torch.optim.Adam([log_alpha], lr=ALPHA_LR)
    buffer = Replay(BUFFER_SIZE, obs_dim, action_dim)

    episode_return, recent_returns = 0.0, deque(maxlen=100)
    start = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    for step in range(total_timesteps):
        if step < LEARNING_STARTS:
            action = rng.uniform(space.low, space.high).astype(np.float32)
        else:
            with torch.no_grad():
                action = actor.sample(torch.as_tensor(obs, dtype=torch.float32)[None])[0][0].numpy()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        # A truncated episode's last transition still bootstraps: only termination cuts it.
        buffer.add(obs, action, reward, next_obs, float(terminated))
        episode_return += float(reward)
        if terminated or truncated:
            recent_returns.append(episode_return)
            episode_return = 0.0
            next_obs, _ = env.reset()
        obs = next_obs
        if step + 1 < LEARNING_STARTS:
            continue

        b_obs, b_actions, b_rewards, b_next_obs, b_terminated = buffer.sample(BATCH_SIZE, rng)
        alpha = log_alpha.exp().detach()
        # Critics: regress on r + gamma * (min target Q - alpha * log pi) at the next state.
        with torch.no_grad():
            next_actions, next_logp = actor.sample(b_next_obs)
            next_q = torch.min(q1_target(b_next_obs, next_actions), q2_target(b_next_obs, next_actions))
            target = b_rewards + GAMMA * (1.0 - b_terminated) * (next_q - alpha * next_logp)
        q_loss = 0.5 * ((q1(b_obs, b_actions) - target).pow(2).mean() + (q2(b_obs, b_actions) - target).pow(2).mean())
        q_optimizer.zero_grad()
        q_loss.backward()
        q_optimizer.step()

        # Actor: minimize alpha * log pi - min Q over reparameterized actions.
        actions, logp = actor.sample(b_obs)
        actor_loss = (alpha * logp - torch.min(q1(b_obs, actions), q2(b_obs, actions))).mean()
        actor_optimizer.zero_grad()
        actor_loss.backward()
        actor_optimizer.step()

        # Temperature: move the policy's entropy towards the target.
        alpha_loss = -(log_alpha * (logp.detach() + target_entropy)).mean()
        alpha_optimizer.zero_grad()
        alpha_loss.backward()
        alpha_optimizer.step()

        with torch.no_grad():
            for main, target_net in ((q1, q1_target), (q2, q2_target)):
                for p, tp in zip(main.parameters(), target_net.parameters()):
                    tp.mul_(1.0 - TAU).add_(p, alpha=TAU)

        if (step + 1) % 5_000 == 0:
            print(f"step={step + 1} train_return={np.mean(recent_returns) if recent_returns else float('nan'):.1f} "
                  f"alpha={alpha.item():.3f} t={time.perf_counter() - start:.1f}s", file=sys.stderr)

    train_time = time.perf_counter() - start
    env.close()
    eval_start = time.perf_counter()
    returns = evaluate(actor, env_id, eval_episodes, heldout_seed)
    return {
        "steps": total_timesteps,
        "wall_time_s": train_time + time.perf_counter() - eval_start,
        "steps_per_s": total_timesteps / train_time,
        "train_return": float(np.mean(recent_returns)) if recent_returns else None,
        "heldout_return": float(np.mean(returns)),
        "heldout_std": float(np.std(returns)),
        "heldout_episodes": len(returns),
        "alpha": float(log_alpha.detach().exp()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--total-timesteps", type=int, default=20_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--torch-threads", type=int, default=None)
    args = parser.parse_args()
    result = run(seed=args.seed, total_timesteps=args.total_timesteps, torch_threads=args.torch_threads,
                 env_id=args.env, eval_episodes=args.eval_episodes)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
