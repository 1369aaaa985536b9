"""Training throughput of PPO on CartPole-v1: rlmodule-core on each backend vs the plain PyTorch PPO.

Time-to-solve figures (``train_cartpole.py``) mix two things: how many env steps a run
needs and how fast it takes them. On a shared machine the second moves with the load, so
this script measures it alone and paired: the reference and each backend run the same
number of env steps with the same settings (4 envs x 128 steps, 4 epochs, 4 minibatches,
64x64 tanh networks, 1 thread), one fresh subprocess each, in interleaved rounds
(reference, torch, jax, tf, reference, ...), with no evaluation inside the timed span.
The figure is each backend's env steps per second of training divided by the reference's
in the same round; the table shows the median over rounds and every round's ratio.

Run: python benchmarks/ppo_throughput.py [--backends torch,jax,tf] [--steps 40960] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import thread_env

HERE = Path(__file__).parent
# eval_every past the budget: no periodic evaluation; both sides report env steps per
# second of training with any evaluation time taken out.
OURS = """
import json, tempfile
from rlmodule_core.train.loop import train
r = train("ppo", "CartPole-v1", framework={framework!r}, seed={seed}, steps={steps}, out=tempfile.mkdtemp(),
          eval_every={never}, progress=False, stop_at_solve=False, threads=1)
print(json.dumps({{"steps": r.env_steps, "steps_per_s": r.steps_per_s}}))
"""
REFERENCE = """
import json, sys
sys.path.insert(0, {here!r})
from reference_ppo_torch import run
r = run(seed={seed}, total_timesteps={steps}, eval_every={never}, stop_at_solve=False, torch_threads=1)
print(json.dumps({{"steps": r["steps"], "steps_per_s": r["steps_per_s"]}}))
"""


def _run(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=thread_env(1))
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
        raise RuntimeError(f"benchmark subprocess failed: {tail}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(backends: list[str], steps: int, rounds: int, seed: int = 1) -> dict[str, list[float]]:
    """Per backend, the ratio of its training steps/s to the reference's, one per round."""
    never = 10 * steps
    ratios: dict[str, list[float]] = {b: [] for b in backends}
    absolute: dict[str, list[float]] = {b: [] for b in ["reference", *backends]}
    for round_ in range(rounds):
        load = os.getloadavg()[0]
        ref = _run(REFERENCE.format(here=str(HERE), seed=seed, steps=steps, never=never))["steps_per_s"]
        absolute["reference"].append(ref)
        for backend in backends:
            ours = _run(OURS.format(framework=backend, seed=seed, steps=steps, never=never))["steps_per_s"]
            absolute[backend].append(ours)
            ratios[backend].append(ours / ref)
        print(f"round {round_ + 1}/{rounds} (load {load:.1f}): reference {ref:,.0f} steps/s; "
              + ", ".join(f"{b} {absolute[b][-1]:,.0f} ({ratios[b][-1]:.2f}x)" for b in backends), file=sys.stderr)
    return {"ratios": ratios, "steps_per_s": absolute}


def table(result: dict, steps: int) -> str:
    """Markdown: median ratio (higher is faster than the reference) and every round's."""
    lines = [
        f"PPO CartPole-v1 training throughput, {steps:,} env steps per run, 1 thread, no evaluation; "
        "ratio = our env steps/s / the reference's in the same round (>= 1.0 means at least as fast)",
        "",
        "| backend | median ratio | ratios per round | median steps/s (reference in the same rounds) |",
        "|---|---|---|---|",
    ]
    ref = statistics.median(result["steps_per_s"]["reference"])
    for backend, ratios in result["ratios"].items():
        ours = statistics.median(result["steps_per_s"][backend])
        lines.append(f"| {backend} | {statistics.median(ratios):.2f} | {' / '.join(f'{r:.2f}' for r in ratios)} | "
                     f"{ours:,.0f} ({ref:,.0f}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="torch,jax,tf", help="comma-separated backends (default: torch,jax,tf)")
    parser.add_argument("--steps", type=int, default=40_960, help="env steps per run (default: 40,960 = 80 iterations)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    args = parser.parse_args()
    result = measure(args.backends.split(","), args.steps, args.rounds)
    text = table(result, args.steps)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "ppo_throughput.md").write_text(text + "\n")
    (out / "ppo_throughput.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
