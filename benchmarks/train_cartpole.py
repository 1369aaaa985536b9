"""Time-to-solve CartPole-v1: rlmodule-core's PPO (and DQN) on each backend vs a plain PyTorch PPO.

Every run is a subprocess of this script (so frameworks never share a process and each
starts cold), pinned to the same number of threads. "Solved" is a greedy evaluation
mean >= 475 over 20 episodes (>= 200 for DQN), checked every 10,240 env steps, as the
reference script does. Writes a markdown table and JSON to benchmarks/results/.

Run: python benchmarks/train_cartpole.py [--backends torch,jax,tf] [--seeds 1,2,3] [--dqn]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from _common import thread_env

HERE = Path(__file__).parent
OURS = """
import json, sys, tempfile
from rlmodule_core.train.loop import train
r = train({algo!r}, "CartPole-v1", framework={framework!r}, seed={seed}, steps={steps},
          out=tempfile.mkdtemp(), eval_every=10_240, solve_return={solve!r}, progress=False)
print(json.dumps({{"solved": r.solved, "solve_time_s": r.solve_time_s, "solve_steps": r.solve_env_steps,
                  "steps": r.env_steps, "steps_per_s": r.steps_per_s, "final_eval_return": r.final_eval_return}}))
"""
REFERENCE = """
import json, sys
sys.path.insert(0, {here!r})
from reference_ppo_torch import run
print(json.dumps(run(seed={seed}, total_timesteps={steps}, torch_threads={threads})))
"""


def _run(code: str, threads: int) -> dict:
    prologue = f"import torch; torch.set_num_threads({threads})\n" if "torch" in code or "'torch'" in code else ""
    result = subprocess.run([sys.executable, "-c", prologue + code], capture_output=True, text=True, env=thread_env(threads))
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def run_jobs(backends: list[str], seeds: list[int], steps: int = 500_000, threads: int = 1,
             dqn: bool = False) -> list[dict]:
    """One row per run kind (the reference first), each with its per-seed runs and medians."""
    rows = []
    jobs = [("reference PyTorch PPO (single file)", REFERENCE, {})]
    jobs += [(f"rlmodule PPO ({b})", OURS, {"algo": "ppo", "framework": b, "solve": None}) for b in backends]
    if dqn:
        jobs += [(f"rlmodule DQN ({b})", OURS, {"algo": "dqn", "framework": b, "solve": 200.0}) for b in backends]
    for name, template, params in jobs:
        runs = []
        for seed in seeds:
            job_steps = min(steps, 100_000) if params.get("algo") == "dqn" else steps
            code = template.format(here=str(HERE), seed=seed, steps=job_steps, threads=threads, **params)
            runs.append(_run(code, threads))
            print(f"{name} seed {seed}: {runs[-1]}", file=sys.stderr)
        rows.append({
            "name": name, "backend": params.get("framework"), "runs": runs,
            "solved": sum(bool(r.get("solved")) for r in runs),
            "median_solve_time_s": _median(runs, "solve_time_s"),
            "median_solve_steps": _median(runs, "solve_steps"),
            "median_steps_per_s": _median(runs, "steps_per_s"),
        })
    return rows


def table(rows: list[dict], seeds: list[int], threads: int) -> str:
    """The markdown table: time to solve and throughput, with ratios to the reference."""
    reference = rows[0]["median_solve_time_s"]
    lines = [
        f"Time to solve CartPole-v1 (seeds {','.join(map(str, seeds))}, {threads} thread(s), median over seeds)",
        "",
        "| run | solved | solve time (s) | ratio to reference | env steps to solve | steps/s |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        t = row["median_solve_time_s"]
        ratio = f"{t / reference:.2f}" if t and reference else "n/a"
        steps = row["median_solve_steps"]
        lines.append(
            f"| {row['name']} | {row['solved']}/{len(seeds)} | {t if t is None else round(t, 1)} | {ratio} | "
            f"{steps if steps is None else int(steps):,} | {row['median_steps_per_s'] or 0:,.0f} |"
            if steps is not None else
            f"| {row['name']} | {row['solved']}/{len(seeds)} | n/a | n/a | n/a | {row['median_steps_per_s'] or 0:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="torch,jax,tf")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dqn", action="store_true", help="also run DQN (target: return >= 200)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = run_jobs(args.backends.split(","), seeds, args.steps, args.threads, args.dqn)
    text = table(rows, seeds, args.threads)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "train_cartpole.md").write_text(text + "\n")
    (out / "train_cartpole.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
