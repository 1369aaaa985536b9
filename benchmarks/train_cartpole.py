"""Time-to-solve CartPole-v1: rlmodule-core's PPO (and DQN) on each backend vs a plain PyTorch PPO.

Every run is a subprocess of this script (so frameworks never share a process and each
starts cold), pinned to the same number of threads. Two measures per run, both with the
same rule for the library and the reference:

- confirmed solve: a greedy evaluation (20 episodes, every 10,240 env steps) reaches 475
  (200 for DQN) and 100 more greedy episodes on fresh seeds confirm it;
- training return: the mean return of the last 100 training episodes reaches 450.

A run goes on until both happened (or the step budget ends). The confirmed policy is then
evaluated on 100 held-out greedy episodes (seeds 9,000,000+, never used in training).
Writes a markdown table and JSON (one line per finished run, as they finish) to
benchmarks/results/.

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
from pathlib import Path
import numpy as np
from rlmodule_core.train.loop import evaluate_checkpoint, train
out = Path(tempfile.mkdtemp()) / "run"
crossed = {{}}

def until_both(row):
    if not crossed and row["episode_return_mean"] >= {train_return!r}:
        crossed.update(time=row["wall_time_s"], steps=row["env_steps"])
    return bool(crossed) and json.loads((out / "metrics.json").read_text())["summary"]["solved"]

r = train({algo!r}, "CartPole-v1", framework={framework!r}, seed={seed}, steps={steps}, out=out,
          eval_every=10_240, solve_return={solve!r}, progress=False, stop_at_solve=False, on_iteration=until_both)
heldout = None
if r.solved:
    returns, _ = evaluate_checkpoint(out / "solved_module", "CartPole-v1", episodes=100, seed=9_000_000)
    heldout = float(np.mean(returns))
print(json.dumps({{"solved": r.solved, "solve_time_s": r.solve_time_s, "solve_steps": r.solve_env_steps,
                  "solve_confirm_return": r.solve_confirm_return, "solve_train_return": r.solve_train_return,
                  "train_return_time_s": crossed.get("time"), "train_return_steps": crossed.get("steps"),
                  "heldout_return": heldout, "steps": r.env_steps, "steps_per_s": r.steps_per_s,
                  "eval_share": r.eval_share, "final_eval_return": r.final_eval_return}}))
"""
REFERENCE = """
import json, sys
sys.path.insert(0, {here!r})
from reference_ppo_torch import run
print(json.dumps(run(seed={seed}, total_timesteps={steps}, torch_threads={threads},
                     until_train_return={train_return!r})))
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
             dqn: bool = False, log: Path | None = None) -> list[dict]:
    """One row per run kind (the reference first), each with its per-seed runs and medians."""
    rows = []
    jobs = [("reference PyTorch PPO (single file)", REFERENCE, {"train_return": 450.0})]
    jobs += [(f"rlmodule PPO ({b})", OURS, {"algo": "ppo", "framework": b, "solve": None, "train_return": 450.0})
             for b in backends]
    if dqn:
        jobs += [(f"rlmodule DQN ({b})", OURS, {"algo": "dqn", "framework": b, "solve": 200.0, "train_return": 200.0})
                 for b in backends]
    for name, template, params in jobs:
        runs = []
        for seed in seeds:
            job_steps = min(steps, 100_000) if params.get("algo") == "dqn" else steps
            code = template.format(here=str(HERE), seed=seed, steps=job_steps, threads=threads, **params)
            runs.append(_run(code, threads))
            print(f"{name} seed {seed}: {runs[-1]}", file=sys.stderr)
            if log is not None:
                with open(log, "a") as f:
                    f.write(json.dumps({"name": name, "seed": seed, **runs[-1]}) + "\n")
        rows.append({
            "name": name, "backend": params.get("framework"), "runs": runs,
            "solved": sum(bool(r.get("solved")) for r in runs),
            "median_solve_time_s": _median(runs, "solve_time_s"),
            "median_solve_steps": _median(runs, "solve_steps"),
            "median_steps_per_s": _median(runs, "steps_per_s"),
            "median_train_return_time_s": _median(runs, "train_return_time_s"),
            "median_train_return_steps": _median(runs, "train_return_steps"),
        })
    return rows


def _cell(runs: list[dict], key: str, fmt: str) -> str:
    values = [r.get(key) for r in runs]
    return " / ".join("-" if v is None else format(v, fmt) for v in values)


def table(rows: list[dict], seeds: list[int], threads: int) -> str:
    """The markdown table: per seed (in seed order) and the median, with ratios to the reference."""
    reference = rows[0]
    lines = [
        f"CartPole-v1, seeds {','.join(map(str, seeds))} (per-seed values in seed order), {threads} thread(s); "
        "a shared, loaded machine",
        "",
        "| run | confirmed solves | solve time (s) | solve env steps | last-100 training return >= 450: time (s) "
        "| ... env steps | median time ratio to reference (solve / train 450) | held-out greedy return (100 ep.) "
        "| training steps/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs = row["runs"]
        ratios = []
        for key in ("median_solve_time_s", "median_train_return_time_s"):
            ours, ref = row.get(key), reference.get(key)
            ratios.append(f"{ours / ref:.2f}" if ours and ref else "n/a")
        lines.append(
            f"| {row['name']} | {row['solved']}/{len(seeds)} | {_cell(runs, 'solve_time_s', '.0f')} | "
            f"{_cell(runs, 'solve_steps', ',')} | {_cell(runs, 'train_return_time_s', '.0f')} | "
            f"{_cell(runs, 'train_return_steps', ',')} | {' / '.join(ratios)} | "
            f"{_cell(runs, 'heldout_return', '.1f')} | {row['median_steps_per_s'] or 0:,.0f} |"
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
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    rows = run_jobs(args.backends.split(","), seeds, args.steps, args.threads, args.dqn,
                    log=out / "train_cartpole_runs.jsonl")
    text = table(rows, seeds, args.threads)
    print(text)
    (out / "train_cartpole.md").write_text(text + "\n")
    (out / "train_cartpole.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
