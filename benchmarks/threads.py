"""Training throughput by thread setting: one `rlmodule train` alone, and two at once.

Each run is a fresh `rlmodule train` process (PPO, no early stop, evaluation only at the
end). The framework default is the thread count the framework picks by itself (torch:
one per core), passed explicitly with `--threads` so both settings run the same code.
Runs alternate between settings, round by round, so load from other processes hits
both alike; the figure is the median env steps/s per run over rounds. The load average
is printed with every round: the machine may be shared.

Run: python benchmarks/threads.py [--framework torch] [--env Pendulum-v1] [--steps 20480] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CODE = """
import json, sys
from rlmodule_core.train.loop import train
r = train("ppo", {env!r}, framework={framework!r}, seed=1, steps={steps}, out={out!r}, eval_every=10**9,
          eval_episodes=1, stop_at_solve=False, progress=False, threads={threads})
print(json.dumps({{"steps_per_s": r.steps_per_s}}))
"""


def default_threads(framework: str) -> int:
    """The intra-op thread count the framework chooses by itself in a fresh process."""
    probe = {
        "torch": "import torch; print(torch.get_num_threads())",
        # TF and XLA size their pools to the cores.
        "tf": "import os; print(os.cpu_count())",
        "jax": "import os; print(os.cpu_count())",
    }[framework]
    return int(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)


def start(framework: str, env: str, steps: int, threads: int, out: Path) -> subprocess.Popen:
    code = CODE.format(env=env, framework=framework, steps=steps, out=str(out), threads=threads)
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "XLA_FLAGS")}
    environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environ)


def finish(proc: subprocess.Popen) -> float:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"training run failed: {err.strip().splitlines()[-1] if err else proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])["steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="torch")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--steps", type=int, default=20_480)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = {"1 thread (new default)": 1}
    settings[f"{default_threads(args.framework)} threads (framework default)"] = default_threads(args.framework)
    alone: dict[str, list[float]] = {name: [] for name in settings}
    paired: dict[str, list[float]] = {name: [] for name in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(settings) if r % 2 == 0 else list(reversed(settings))
            for name in order:
                threads = settings[name]
                alone[name].append(finish(start(args.framework, args.env, args.steps, threads, Path(tmp, f"a{r}{threads}"))))
                pair = [start(args.framework, args.env, args.steps, threads, Path(tmp, f"p{r}{threads}{i}")) for i in range(2)]
                paired[name].extend(finish(p) for p in pair)
            print(f"round {r + 1}: load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(f"| threads | alone (steps/s) | two at once (steps/s each) |   ({args.framework}, PPO on {args.env}, "
          f"{args.steps} steps, median of {args.rounds} rounds)")
    print("|---|---|---|")
    for name in settings:
        print(f"| {name} | {statistics.median(alone[name]):,.0f} | {statistics.median(paired[name]):,.0f} |")


if __name__ == "__main__":
    main()
