"""Reference PPO for CartPole-v1 in plain PyTorch (single file, CleanRL style).

This is the yardstick the library's own PPO is timed against, so it deliberately
uses nothing from the library: one vector env, one actor, one critic, one loop.
Hyperparameters follow CleanRL's ``ppo.py`` CartPole defaults.

Usage:
    python benchmarks/reference_ppo_torch.py --seed 1
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
from torch import nn
from torch.distributions import Categorical

ENV_ID = "CartPole-v1"
NUM_ENVS = 4
NUM_STEPS = 128  # rollout length per env
UPDATE_EPOCHS = 4
NUM_MINIBATCHES = 4
LEARNING_RATE = 2.5e-4
GAMMA = 0.99
GAE_LAMBDA = 0.95
CLIP_COEF = 0.2
ENT_COEF = 0.01
VF_COEF = 0.5
MAX_GRAD_NORM = 0.5
SOLVED_RETURN = 475.0
EVAL_EPISODES = 20
BATCH_SIZE = NUM_ENVS * NUM_STEPS  # 512 env steps per iteration
MINIBATCH_SIZE = BATCH_SIZE // NUM_MINIBATCHES


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Linear:
    # Orthogonal init as in the PPO implementation details (Huang et al., 2022).
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(in_dim: int, out_dim: int, out_std: float) -> nn.Sequential:
    return nn.Sequential(
        layer_init(nn.Linear(in_dim, 64)),
        nn.Tanh(),
        layer_init(nn.Linear(64, 64)),
        nn.Tanh(),
        layer_init(nn.Linear(64, out_dim), std=out_std),
    )


class Agent(nn.Module):
    """Separate actor and critic networks (no shared trunk)."""

    def __init__(self, obs_dim: int, n_actions: int):
        super().__init__()
        # Small actor output std keeps the initial policy close to uniform.
        self.actor = mlp(obs_dim, n_actions, out_std=0.01)
        self.critic = mlp(obs_dim, 1, out_std=1.0)

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def get_action_and_value(self, obs: torch.Tensor, action: torch.Tensor | None = None):
        dist = Categorical(logits=self.actor(obs))
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.get_value(obs)


@torch.no_grad()
def evaluate(agent: Agent, n_episodes: int = EVAL_EPISODES, seed: int = 0, n_envs: int = 10) -> list[float]:
    """Greedy (argmax) returns of ``n_episodes`` episodes on ``n_envs`` fresh envs stepped
    together (env i seeded seed + i), each playing a fixed share of the episodes."""
    envs = gym.make_vec(ENV_ID, num_envs=n_envs, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    quota = [n_episodes // n_envs + (i < n_episodes % n_envs) for i in range(n_envs)]
    returns: list[list[float]] = [[] for _ in range(n_envs)]
    totals = np.zeros(n_envs)
    obs, _ = envs.reset(seed=seed)
    while any(len(r) < q for r, q in zip(returns, quota)):
        actions = agent.actor(torch.as_tensor(obs, dtype=torch.float32)).argmax(-1).numpy()
        obs, reward, terminated, truncated, _ = envs.step(actions)
        totals += reward
        for i in np.flatnonzero(terminated | truncated):
            if len(returns[i]) < quota[i]:
                returns[i].append(float(totals[i]))
            totals[i] = 0.0
    envs.close()
    return [r for per_env in returns for r in per_env]


def run(
    seed: int = 1,
    total_timesteps: int = 500_000,
    eval_every: int = 10_240,
    stop_at_solve: bool = True,
    torch_threads: int | None = None,
    confirm_episodes: int = 100,
    until_train_return: float | None = None,
    heldout_seed: int = 9_000_000,
) -> dict:
    """Trains; "solved" is the library's rule: a periodic 20-episode greedy evaluation at or
    above SOLVED_RETURN confirmed by ``confirm_episodes`` episodes on fresh seeds. With
    ``until_train_return`` the run goes on after the solve until the training return (mean of
    the last 100 episodes) reaches it too. The confirmed policy is then evaluated on 100
    held-out episodes (seeds from ``heldout_seed``)."""
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    # SAME_STEP autoreset: after a done, the returned obs is already the reset obs
    # and the true last obs is in infos["final_obs"] (needed to bootstrap truncations).
    envs = gym.make_vec(
        ENV_ID,
        num_envs=NUM_ENVS,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    obs_dim = envs.single_observation_space.shape[0]
    agent = Agent(obs_dim, envs.single_action_space.n)
    optimizer = torch.optim.Adam(agent.parameters(), lr=LEARNING_RATE, eps=1e-5)

    # Rollout storage; ends[t] marks that transition t finished an episode.
    obs_buf = torch.zeros((NUM_STEPS, NUM_ENVS, obs_dim))
    actions = torch.zeros((NUM_STEPS, NUM_ENVS), dtype=torch.long)
    logprobs = torch.zeros((NUM_STEPS, NUM_ENVS))
    rewards = torch.zeros((NUM_STEPS, NUM_ENVS))
    ends = torch.zeros((NUM_STEPS, NUM_ENVS))
    values = torch.zeros((NUM_STEPS, NUM_ENVS))

    num_iterations = total_timesteps // BATCH_SIZE
    global_step, next_eval = 0, eval_every
    eval_time, final_eval_return = 0.0, float("nan")
    solve_time, solve_steps, solve_train_return, confirm_return, heldout = None, None, None, None, None
    train_time, train_steps, confirmations, evaluations = None, None, 0, 0
    ep_returns, recent_returns = np.zeros(NUM_ENVS), deque(maxlen=100)  # training episodes

    start = time.perf_counter()
    next_obs = torch.as_tensor(envs.reset(seed=seed)[0], dtype=torch.float32)
    for iteration in range(1, num_iterations + 1):
        # Linearly anneal the learning rate to 0 over the planned run.
        optimizer.param_groups[0]["lr"] = LEARNING_RATE * (1.0 - (iteration - 1) / num_iterations)

        # ---- Collect a rollout of NUM_STEPS x NUM_ENVS transitions.
        for t in range(NUM_STEPS):
            global_step += NUM_ENVS
            obs_buf[t] = next_obs
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
            actions[t], logprobs[t], values[t] = action, logprob, value

            obs, reward, terminated, truncated, infos = envs.step(action.numpy())
            ep_returns += reward  # raw reward, before any bootstrapping below
            reward = torch.as_tensor(reward, dtype=torch.float32)
            # Truncation is a time limit, not a real end: fold gamma * V(final obs) into
            # the reward so the GAE below can treat every done the same way.
            idx = np.flatnonzero(truncated & ~terminated)
            if len(idx):
                final = torch.as_tensor(np.stack(infos["final_obs"][idx]), dtype=torch.float32)
                with torch.no_grad():
                    reward[idx] += GAMMA * agent.get_value(final)
            done = terminated | truncated
            recent_returns.extend(ep_returns[done])
            ep_returns[done] = 0.0
            rewards[t] = reward
            ends[t] = torch.as_tensor(done, dtype=torch.float32)
            next_obs = torch.as_tensor(obs, dtype=torch.float32)

        # ---- Generalized Advantage Estimation (Schulman et al., 2016).
        with torch.no_grad():
            next_value = agent.get_value(next_obs)
            advantages = torch.zeros_like(rewards)
            last_gae = torch.zeros(NUM_ENVS)
            for t in reversed(range(NUM_STEPS)):
                not_end = 1.0 - ends[t]
                value_after = next_value if t == NUM_STEPS - 1 else values[t + 1]
                delta = rewards[t] + GAMMA * value_after * not_end - values[t]
                last_gae = delta + GAMMA * GAE_LAMBDA * not_end * last_gae
                advantages[t] = last_gae
            returns = advantages + values

        # ---- PPO update: several epochs of shuffled minibatches over the batch.
        b_obs, b_actions = obs_buf.reshape(-1, obs_dim), actions.reshape(-1)
        b_logprobs, b_advantages = logprobs.reshape(-1), advantages.reshape(-1)
        b_returns, b_values = returns.reshape(-1), values.reshape(-1)
        for _ in range(UPDATE_EPOCHS):
            perm = np.random.permutation(BATCH_SIZE)
            for lo in range(0, BATCH_SIZE, MINIBATCH_SIZE):
                mb = torch.as_tensor(perm[lo : lo + MINIBATCH_SIZE])
                _, new_logprob, entropy, new_value = agent.get_action_and_value(
                    b_obs[mb], b_actions[mb]
                )
                ratio = (new_logprob - b_logprobs[mb]).exp()
                adv = b_advantages[mb]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)

                # Clipped surrogate objective (written as a loss to minimise).
                pg_loss = torch.max(
                    -adv * ratio, -adv * ratio.clamp(1 - CLIP_COEF, 1 + CLIP_COEF)
                ).mean()
                # Clipped value loss: don't let the critic move far from its old estimate.
                v_clipped = b_values[mb] + (new_value - b_values[mb]).clamp(-CLIP_COEF, CLIP_COEF)
                v_err = torch.max(
                    (new_value - b_returns[mb]) ** 2, (v_clipped - b_returns[mb]) ** 2
                )
                v_loss = 0.5 * v_err.mean()
                loss = pg_loss - ENT_COEF * entropy.mean() + VF_COEF * v_loss

                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), MAX_GRAD_NORM)
                optimizer.step()

        train_ret = float(np.mean(recent_returns)) if recent_returns else float("nan")
        if until_train_return is not None and train_steps is None and train_ret >= until_train_return:
            train_time, train_steps = time.perf_counter() - start, global_step

        # ---- Periodic greedy evaluation (timed separately from training throughput).
        last_iteration = iteration == num_iterations
        if global_step >= next_eval or last_iteration:
            next_eval += eval_every
            eval_start = time.perf_counter()
            final_eval_return = float(np.mean(evaluate(agent, EVAL_EPISODES, seed=100_000 + 1000 * evaluations)))
            evaluations += 1
            if solve_steps is None and final_eval_return >= SOLVED_RETURN:
                confirm = float(np.mean(evaluate(agent, confirm_episodes, seed=500_000 + 1000 * confirmations)))
                confirmations += 1
                if confirm >= SOLVED_RETURN:
                    solve_time, solve_steps = time.perf_counter() - start, global_step
                    solve_train_return, confirm_return = train_ret, confirm
                    heldout = float(np.mean(evaluate(agent, 100, seed=heldout_seed)))
            eval_time += time.perf_counter() - eval_start
            print(
                f"step={global_step} eval_return={final_eval_return:.1f} "
                f"train_return={train_ret:.1f} t={time.perf_counter() - start:.1f}s",
                file=sys.stderr,
            )
        if solve_steps is not None and (until_train_return is None or train_steps is not None):
            if stop_at_solve:
                break

    wall_time = time.perf_counter() - start
    envs.close()
    return {
        "solved": solve_steps is not None,
        "solve_time_s": solve_time,
        "solve_steps": solve_steps,
        "steps": global_step,
        "wall_time_s": wall_time,
        "steps_per_s": global_step / (wall_time - eval_time),
        "final_eval_return": final_eval_return,
        "solve_confirm_return": confirm_return,
        "solve_train_return": solve_train_return,
        "train_return_time_s": train_time,
        "train_return_steps": train_steps,
        "heldout_return": heldout,
        "eval_time_s": eval_time,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--eval-every", type=int, default=10_240)
    # BooleanOptionalAction gives both --stop-at-solve (default) and --no-stop-at-solve.
    parser.add_argument("--stop-at-solve", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--torch-threads", type=int, default=None)
    args = parser.parse_args()
    result = run(
        seed=args.seed,
        total_timesteps=args.total_timesteps,
        eval_every=args.eval_every,
        stop_at_solve=args.stop_at_solve,
        torch_threads=args.torch_threads,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
