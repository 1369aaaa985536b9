"""Held-out greedy evaluation of saved policies: 100 episodes on seeds no trainer uses.

The trainer evaluates on seeds 100,000+ (periodic) and 500,000+ (confirmations) and trains
on the run's seed; this script plays from seed 9,000,000 on, with ``forward_inference``
and the module restored on any backend. Accepts run directories (the confirmed policy in
``OUT/solved_module`` when the run solved, else its checkpoint) or module checkpoints.

Run: python benchmarks/heldout_eval.py runs/ppo-torch-1 runs/ppo-jax-1 [--env CartPole-v1]
     [--episodes 100] [--framework numpy] [--threshold 475]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rlmodule_core.train.loop import RUN_FILE, SOLVED_MODULE, evaluate_checkpoint

HELDOUT_SEED = 9_000_000


def evaluate(path: Path, env: str | None, episodes: int, framework: str | None) -> dict:
    """The held-out greedy returns of one saved policy."""
    if (path / RUN_FILE).is_file():
        env = env or json.loads((path / RUN_FILE).read_text())["env"]
        if (path / SOLVED_MODULE).is_dir():
            path = path / SOLVED_MODULE
    returns, module = evaluate_checkpoint(path, env, episodes=episodes, framework=framework, seed=HELDOUT_SEED)
    return {"path": str(path), "framework": module.framework, "episodes": len(returns),
            "mean": float(np.mean(returns)), "std": float(np.std(returns)), "min": float(np.min(returns))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--env", default=None)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--framework", default=None, help="restore on this backend (default: the recorded one)")
    parser.add_argument("--threshold", type=float, default=None, help="report whether each mean reaches it")
    args = parser.parse_args()
    for path in args.paths:
        row = evaluate(path, args.env, args.episodes, args.framework)
        if args.threshold is not None:
            row["reaches_threshold"] = row["mean"] >= args.threshold
        print(json.dumps(row))


if __name__ == "__main__":
    main()
