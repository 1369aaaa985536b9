"""SAC for a fixed env-step budget: rlmodule-core on each backend vs a plain PyTorch SAC.

Every run is a subprocess of this script (frameworks never share a process; each starts
cold), pinned to the same number of threads, with the same budget and the same
hyperparameters (the library's ``SACConfig`` defaults; ``reference_sac_torch.py`` copies
them). Per seed: the greedy policy's mean return over ``--episodes`` held-out episodes
(seeds 9,000,000+, never used in training) at the end of the budget, and the training
throughput in env steps/s (evaluation excluded). Writes a markdown table and JSON lines
(one per finished run, as they finish) to benchmarks/results/.

Run: python benchmarks/train_sac.py --env HalfCheetah-v5 --steps 12000 [--backends torch,jax,tf]
     [--seeds 1,2,3] [--episodes 10] [--no-reference] [--parallel 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import thread_env

HERE = Path(__file__).parent
HELDOUT_SEED = 9_000_000
OURS = """
import json, tempfile
from pathlib import Path
import numpy as np
from rlmodule_core.train.loop import evaluate_checkpoint, train
out = Path(tempfile.mkdtemp()) / "run"
# One evaluation (1 episode) at the end of the budget; the held-out one follows on the checkpoint.
r = train("sac", {env!r}, framework={framework!r}, seed={seed}, steps={steps}, out=out, eval_every={steps},
          eval_episodes=1, confirm_episodes=1, progress=False, stop_at_solve=False)
returns, _ = evaluate_checkpoint(out, episodes={episodes}, seed={heldout})
print(json.dumps({{"steps": r.env_steps, "wall_time_s": r.wall_time_s, "steps_per_s": r.steps_per_s,
                  "train_return": r.train_return, "heldout_return": float(np.mean(returns)),
                  "heldout_std": float(np.std(returns)), "heldout_episodes": len(returns)}}))
"""
REFERENCE = """
import json, sys
sys.path.insert(0, {here!r})
from reference_sac_torch import run
print(json.dumps(run(seed={seed}, total_timesteps={steps}, torch_threads={threads}, env_id={env!r},
                     eval_episodes={episodes}, heldout_seed={heldout})))
"""


def _run(code: str, threads: int) -> dict:
    prologue = f"import torch; torch.set_num_threads({threads})\n" if "torch" in code else ""
    result = subprocess.run([sys.executable, "-c", prologue + code], capture_output=True, text=True,
                            env=thread_env(threads))
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _mean(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.fmean(values) if values else None


def run_jobs(env: str, backends: list[str], seeds: list[int], steps: int, episodes: int, threads: int = 1,
             reference: bool = True, log: Path | None = None, parallel: int = 1) -> list[dict]:
    """One row per run kind (the reference first), each with its per-seed runs and seed means.

    Runs go seed by seed, every kind once per seed, so that load from other processes on a
    shared machine falls on all kinds alike; ``parallel`` runs go at the same time, in that
    order (with as many as there are kinds and seeds, all of them at once).
    """
    jobs = [("reference PyTorch SAC (single file)", REFERENCE, {})] if reference else []
    jobs += [(f"rlmodule SAC ({b})", OURS, {"framework": b}) for b in backends]
    results: dict[tuple[str, int], dict] = {}
    lock = threading.Lock()

    def one_run(seed: int, name: str, template: str, params: dict) -> None:
        code = template.format(here=str(HERE), env=env, seed=seed, steps=steps, threads=threads,
                               episodes=episodes, heldout=HELDOUT_SEED, **params)
        result = _run(code, threads)
        with lock:
            results[name, seed] = result
            print(f"{name} seed {seed}: {result}", file=sys.stderr)
            if log is not None:
                with open(log, "a") as f:
                    f.write(json.dumps({"name": name, "env": env, "seed": seed, **result}) + "\n")

    with ThreadPoolExecutor(max(parallel, 1)) as pool:
        futures = [pool.submit(one_run, seed, *job) for seed in seeds for job in jobs]
        for future in futures:
            future.result()
    runs = {name: [results[name, seed] for seed in seeds] for name, _, _ in jobs}
    return [{"name": name, "backend": params.get("framework"), "runs": runs[name],
             "mean_heldout_return": _mean(runs[name], "heldout_return"),
             "mean_steps_per_s": _mean(runs[name], "steps_per_s")} for name, _, params in jobs]


def _cell(runs: list[dict], key: str, fmt: str) -> str:
    return " / ".join("-" if r.get(key) is None else format(r[key], fmt) for r in runs)


def table(rows: list[dict], env: str, seeds: list[int], steps: int, episodes: int, threads: int) -> str:
    """The markdown table: per seed (in seed order) and the seed mean."""
    lines = [
        f"SAC on {env}, {steps:,} env steps, seeds {','.join(map(str, seeds))} (per-seed values in seed order), "
        f"{threads} thread(s), held-out greedy return over {episodes} episodes; a shared, loaded machine",
        "",
        "| run | held-out greedy return (per seed) | seed mean | training return, last 100 episodes "
        "| training steps/s (per seed) | mean steps/s |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs = row["runs"]
        mean_return, mean_speed = row["mean_heldout_return"], row["mean_steps_per_s"]
        lines.append(
            f"| {row['name']} | {_cell(runs, 'heldout_return', '.1f')} | "
            f"{'-' if mean_return is None else format(mean_return, '.1f')} | {_cell(runs, 'train_return', '.1f')} | "
            f"{_cell(runs, 'steps_per_s', '.1f')} | {'-' if mean_speed is None else format(mean_speed, '.1f')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--backends", default="torch,jax,tf")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--steps", type=int, default=12_000)
    parser.add_argument("--episodes", type=int, default=10, help="held-out greedy episodes per run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-reference", action="store_true", help="skip the plain PyTorch reference")
    parser.add_argument("--parallel", type=int, default=1, help="runs at the same time (default 1)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    backends = [b for b in args.backends.split(",") if b]
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    rows = run_jobs(args.env, backends, seeds, args.steps, args.episodes, args.threads,
                    reference=not args.no_reference, log=out / "train_sac_runs.jsonl", parallel=args.parallel)
    text = table(rows, args.env, seeds, args.steps, args.episodes, args.threads)
    print(text)
    stem = f"train_sac_{args.env}"
    (out / f"{stem}.md").write_text(text + "\n")
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
