"""Remote env runners on Ray: weight-sync latency and PPO sampling throughput.

1. Sync latency: the inference-only state of a ~10M-parameter ``DefaultPPORLModule``
   (``fcnet_hiddens=[2048, 2048, 2048]`` on ``Box(1024,)``, ``Discrete(2)``: 10,496,002
   parameters, ~42 MB float32) sent to 2 runners with ``EnvRunnerGroup.sync_weights(state,
   wait=True)``: one ``ray.put``, then each runner's ``set_state``, timed until both
   acknowledge. References measured in the same run: sending the state by value to each
   runner (Ray serializes it once per call), and ``set_state`` in this process (the floor).
2. Sampling throughput: env steps/s of PPO's sampling on CartPole-v1 with the default
   ``PPOConfig`` (4 envs, 128 steps per iteration, a [64, 64] torch module), through the
   sampler PPO uses: in this process (0 runners), or on 1 or 2 Ray runners (each
   iteration syncs the weights, then gathers 512 steps split across the runners). Only
   sampling is timed, not the PPO update. Passes cycle through 0, 1, 2 runners so that
   load from other processes on a shared machine hits all alike; figures are medians.
   A second configuration with 32 envs shows where splitting envs across runners pays:
   a runner steps its envs in lockstep, so with few envs the per-step module call, not
   the env, sets the pace, and halving each runner's envs barely shortens an iteration.
   The driver runs torch on ``--threads`` threads (default 1), as Ray runs each runner
   (it sets OMP_NUM_THREADS=1 for a 1-CPU actor), so every process computes alike; tiny
   networks gain nothing from more threads, and on a loaded machine they lose much.

Usage:
    python benchmarks/ray_sync.py [--rounds 10] [--iterations 20] [--passes 3]

Writes benchmarks/results/ray_sync.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import ray

import rlmodule_core as rlm
from rlmodule_core.distributed import EnvRunnerGroup, split_envs
from rlmodule_core.train.algorithms import PPO, PPOConfig

RESULTS = Path(__file__).parent / "results" / "ray_sync.json"
LARGE_OBS, LARGE_HIDDEN = 1024, [2048, 2048, 2048]


class WideObsEnv(gym.Env):
    """Observations of the large module's size; only here so its runners can start.

    Defined in ``__main__``, so Ray ships the class by value to the workers.
    """

    observation_space = gym.spaces.Box(-1.0, 1.0, (LARGE_OBS,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(LARGE_OBS, np.float32), {}

    def step(self, action):
        return np.zeros(LARGE_OBS, np.float32), 0.0, False, False, {}


def large_spec(framework: str, seed: int, inference_only: bool = False) -> rlm.RLModuleSpec:
    from rlmodule_core.modules import DefaultPPORLModule

    return rlm.RLModuleSpec(
        module_class=DefaultPPORLModule, observation_space=WideObsEnv.observation_space,
        action_space=WideObsEnv.action_space, model_config={"fcnet_hiddens": LARGE_HIDDEN, "seed": seed},
        inference_only=inference_only, framework=framework,
    )


def bench_sync(framework: str, rounds: int) -> dict[str, Any]:
    learner = large_spec(framework, seed=0).build()
    state = learner.get_state(inference_only=True)
    params = int(sum(v.size for v in state.values()))
    nbytes = int(sum(v.nbytes for v in state.values()))
    local = large_spec(framework, seed=1, inference_only=True).build()  # what a runner holds
    times: dict[str, list[float]] = {"sync_weights": [], "per_runner_by_value": [], "local_set_state": []}
    with EnvRunnerGroup(large_spec(framework, seed=1), WideObsEnv, 2) as group:
        group.sync_weights(state, wait=True)  # warm-up: first set_state touches fresh pages
        for _ in range(rounds):
            t0 = time.perf_counter()
            group.sync_weights(state, wait=True)
            times["sync_weights"].append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            ray.get([actor.set_weights.remote(state, group.weights_version) for actor in group.actors])
            times["per_runner_by_value"].append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            local.set_state(state)
            times["local_set_state"].append(time.perf_counter() - t0)
        counts = group.counts
    assert counts.restarts == 0, counts
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {
        "framework": framework, "params": params, "bytes": nbytes, "runners": 2, "rounds": rounds,
        "median_ms": {k: round(v * 1e3, 2) for k, v in medians.items()},
        "min_ms": {k: round(min(v) * 1e3, 2) for k, v in times.items()},
        "sync_gb_s": round(2 * nbytes / medians["sync_weights"] / 1e9, 2),
    }


def sampling_rate(num_env_runners: int, num_envs: int, iterations: int, framework: str) -> float:
    """Env steps/s of ``iterations`` PPO sampling calls (after one warm-up call)."""
    config = PPOConfig(num_envs=num_envs)
    algo = PPO(config, "CartPole-v1", framework=framework, seed=0, num_env_runners=num_env_runners)
    try:
        steps = algo.config.rollout_length
        algo.sampler.sample(steps)
        start_steps, t0 = algo.num_env_steps, time.perf_counter()
        for _ in range(iterations):
            algo.sampler.sample(steps)
        return (algo.num_env_steps - start_steps) / (time.perf_counter() - t0)
    finally:
        algo.close()


def bench_sampling(framework: str, num_envs: int, iterations: int, passes: int) -> dict[str, Any]:
    rates: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for _ in range(passes):
        for n in rates:
            rates[n].append(sampling_rate(n, num_envs, iterations, framework))
    base = statistics.median(rates[0])
    return {
        "framework": framework, "num_envs": num_envs, "iterations": iterations, "passes": passes,
        "steps_per_iteration": num_envs * PPOConfig().rollout_length,
        "rows": [
            {"num_env_runners": n, "steps_per_s": round(statistics.median(r), 1),
             "all_steps_per_s": [round(x, 1) for x in r], "ratio_to_local": round(statistics.median(r) / base, 2)}
            for n, r in rates.items()
        ],
    }


def markdown(result: dict[str, Any]) -> str:
    sync = result["sync"]
    m = sync["median_ms"]
    lines = [
        f"Weight sync: {sync['params']:,} parameters ({sync['bytes'] / 1e6:.1f} MB) to {sync['runners']} runners "
        f"({sync['framework']}), median of {sync['rounds']} rounds; 1-min load average "
        f"{result['machine']['loadavg_1min_before']} before, {result['machine']['loadavg_1min_after']} after "
        f"({result['machine']['cpus']} CPUs)",
        "",
        "| what | median ms | min ms |",
        "|---|---|---|",
        f"| sync_weights (ray.put once, both set_state, until both acknowledge) | {m['sync_weights']:.1f} | "
        f"{sync['min_ms']['sync_weights']:.1f} |",
        f"| reference: state sent by value to each runner | {m['per_runner_by_value']:.1f} | "
        f"{sync['min_ms']['per_runner_by_value']:.1f} |",
        f"| floor: set_state in this process | {m['local_set_state']:.1f} | {sync['min_ms']['local_set_state']:.1f} |",
        "",
        f"PPO sampling on CartPole-v1 ({sync['framework']}, rollout_length 128, each iteration incl. the "
        f"weight sync; median of {result['sampling'][0]['passes']} passes x {result['sampling'][0]['iterations']} "
        "iterations)",
        "",
        "| num_envs | env runners | envs per runner | env steps/s | vs 0 runners |",
        "|---|---|---|---|---|",
    ]
    for sampling in result["sampling"]:
        for row in sampling["rows"]:
            n = row["num_env_runners"]
            where = "0 (this process)" if n == 0 else str(n)
            per_runner = sampling["num_envs"] if n == 0 else "/".join(map(str, split_envs(sampling["num_envs"], n)))
            lines.append(f"| {sampling['num_envs']} | {where} | {per_runner} | {row['steps_per_s']:,.0f} | "
                         f"{row['ratio_to_local']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="torch")
    parser.add_argument("--rounds", type=int, default=10, help="sync rounds")
    parser.add_argument("--iterations", type=int, default=20, help="sampling iterations per measurement")
    parser.add_argument("--passes", type=int, default=3, help="passes over 0, 1, 2 runners")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[4, 32], help="PPO num_envs settings")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    args = parser.parse_args()
    if args.framework == "torch":
        import torch

        torch.set_num_threads(args.threads)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    # The load average says how busy a shared machine was: runners wait for the slowest one.
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "ray": ray.__version__,
               "driver_threads": args.threads, "loadavg_1min_before": round(os.getloadavg()[0], 2)}
    try:
        result = {
            "machine": machine,
            "sync": bench_sync(args.framework, args.rounds),
            "sampling": [bench_sampling(args.framework, n, args.iterations, args.passes) for n in args.num_envs],
        }
    finally:
        ray.shutdown()
    machine["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    print(f"\nWrote {RESULTS}")


if __name__ == "__main__":
    main()
