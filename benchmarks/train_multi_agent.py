"""Time-to-solve 2-agent MultiAgentCartPole-v1 (independent and shared modules) vs single-agent CartPole-v1.

Every run is a subprocess (frameworks never share a process; each starts cold), pinned
to the same number of threads, with PPO's default config. The single-agent run on the
same backend is the reference. Solved is the training loop's confirmed solve: a periodic
greedy evaluation (20 episodes, every 10,240 env steps) reaching 475, followed by 100
greedy episodes on fresh seeds that reach it too. For the multi-agent runs an episode
scores its lowest module's return, so a confirmed solve means each module's 100-episode
mean is >= 475. The confirmed policy (OUT/solved_module) then plays 100 more episodes on
held-out seeds and each module's mean is reported.

An env step is one step of the whole env (both agents act): the multi-agent runs step
two poles per env step and run two forward passes (independent) or one forward pass
over both agents (shared) per step.

Run: python benchmarks/train_multi_agent.py [--backends torch,jax,tf] [--seeds 1,2]
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
CODE = """
import json, tempfile
from pathlib import Path
from rlmodule_core.train.loop import train
out = tempfile.mkdtemp()
r = train("ppo", {env!r}, framework={framework!r}, seed={seed}, steps={steps}, out=out,
          eval_every=10_240, progress=False, policies={policies!r}, env_config={env_config!r})
result = {{"solved": r.solved, "solve_time_s": r.solve_time_s, "solve_steps": r.solve_env_steps,
          "steps": r.env_steps, "steps_per_s": r.steps_per_s, "final_eval_return": r.final_eval_return,
          "confirm_return": r.solve_confirm_return}}
if {policies!r} is not None and r.solved:
    from rlmodule_core.train.multi_agent.run import evaluate_multi_agent_checkpoint
    # 100 more greedy episodes on held-out seeds with the confirmed policy, each module's mean.
    _, metrics, _ = evaluate_multi_agent_checkpoint(Path(out) / "solved_module", {env!r}, episodes=100,
                                                    env_config={env_config!r}, seed=900_000)
    result["eval100"] = {{k.removesuffix("/eval_return_mean"): v for k, v in metrics.items() if not k.startswith("agent/")}}
print(json.dumps(result))
"""

def _run(code: str, threads: int) -> dict:
    prologue = f"import torch; torch.set_num_threads({threads})\n" if "'torch'" in code else ""
    result = subprocess.run([sys.executable, "-c", prologue + code], capture_output=True, text=True,
                            env=thread_env(threads))
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def run_jobs(backends: list[str], seeds: list[int], steps: int, threads: int) -> list[dict]:
    rows = []
    for backend in backends:
        jobs = [
            (f"single-agent CartPole-v1 ({backend})", "CartPole-v1", None, None),
            (f"2 agents, independent modules ({backend})", "MultiAgentCartPole-v1", "independent", {"num_agents": 2}),
            (f"2 agents, one shared module ({backend})", "MultiAgentCartPole-v1", "shared", {"num_agents": 2}),
        ]
        for name, env, policies, env_config in jobs:
            runs = []
            for seed in seeds:
                code = CODE.format(env=env, framework=backend, seed=seed, steps=steps, policies=policies,
                                   env_config=env_config)
                runs.append(_run(code, threads))
                print(f"{name} seed {seed}: {runs[-1]}", file=sys.stderr, flush=True)
            rows.append({
                "name": name, "backend": backend, "runs": runs, "solved": sum(bool(r.get("solved")) for r in runs),
                "median_solve_time_s": _median(runs, "solve_time_s"),
                "median_solve_steps": _median(runs, "solve_steps"),
                "median_steps_per_s": _median(runs, "steps_per_s"),
            })
    return rows


def table(rows: list[dict], seeds: list[int], threads: int) -> str:
    lines = [
        f"Time to solve (seeds {','.join(map(str, seeds))}, {threads} thread(s), median over seeds); "
        "ratio = time to solve / the single-agent run on the same backend",
        "",
        "| run | solved | solve time (s) | ratio | env steps to solve | env steps/s | greedy mean over 100 episodes, per module |",
        "|---|---|---|---|---|---|---|",
    ]
    reference = None
    for row in rows:
        t = row["median_solve_time_s"]
        if row["name"].startswith("single-agent"):
            reference = t
        ratio = f"{t / reference:.2f}" if t and reference else "n/a"
        evals = "; ".join(
            ", ".join(f"{m} {v:.1f}" for m, v in r["eval100"].items()) for r in row["runs"] if "eval100" in r
        ) or "-"
        steps = row["median_solve_steps"]
        lines.append(
            f"| {row['name']} | {row['solved']}/{len(seeds)} | {'n/a' if t is None else round(t, 1)} | {ratio} | "
            f"{'n/a' if steps is None else f'{int(steps):,}'} | {row['median_steps_per_s'] or 0:,.0f} | {evals} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="torch,jax,tf")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = run_jobs(args.backends.split(","), seeds, args.steps, args.threads)
    text = table(rows, seeds, args.threads)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "train_multi_agent.md").write_text(text + "\n")
    (out / "train_multi_agent.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
