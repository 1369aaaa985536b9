"""Runs the performance suite and writes benchmarks/results/<date>-<commit>.md and .json.

A quick or partial run adds a suffix (``-quick``, ``-rllib``, ...) to the file names.

Every figure is a ratio against a reference measured in the same process (interleaved
rounds, medians); see docs/performance.md for what each group measures and its target.
Each backend runs in a worker process of its own (benchmarks/_worker.py), so frameworks
never share a process.

Groups: forward, state, checkpoint (per backend, in the workers), import (fresh
processes), train (benchmarks/train_cartpole.py, one seed), rllib (RLlib side by side;
skipped with a message when ray[rllib] is not installed: use `nox -s bench-rllib`).

Usage:
    python benchmarks/run.py [--only forward,state,checkpoint,import,train,rllib]
                             [--backends numpy,torch,jax,tf] [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # the helpers next to this file

import _report  # noqa: E402
from _common import Row, skipped, thread_env  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parent
GROUPS = ("forward", "state", "checkpoint", "import", "train", "rllib")
WORKER_GROUPS = ("forward", "state", "checkpoint")
BACKENDS = ("numpy", "torch", "jax", "tf")
TRAIN_BACKENDS = ("torch", "jax", "tf")  # the NumPy backend has no optimizer


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory,
        "os": platform.platform(), "python": platform.python_version(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def run_worker(backend: str, groups: list[str], quick: bool, threads: int) -> tuple[list[dict], dict]:
    """Rows and package versions from one backend's worker process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [sys.executable, str(HERE / "_worker.py"), "--backend", backend,
               "--groups", ",".join(groups), "--out", str(out), "--threads", str(threads)]
        if quick:
            cmd.append("--quick")
        done = subprocess.run(cmd, env=thread_env(threads), capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            why = f"error: the {backend} worker failed ({last})"
            return [Row(group=g, backend=backend, name=g, note=why).as_dict() for g in groups], {}
        result = json.loads(out.read_text())
    for row in result["rows"]:
        if row.get("note", "").startswith("error"):
            print(f"  {backend} {row['group']}: {row['note']}", file=sys.stderr)
    return result["rows"], result["versions"]


def train_rows(backends: list[str], quick: bool, threads: int) -> list[dict]:
    """PPO throughput per backend from benchmarks/train_cartpole.py (one seed)."""
    import train_cartpole

    backends = [b for b in backends if b in TRAIN_BACKENDS]
    if not backends:
        return []
    results = train_cartpole.run_jobs(backends, [1], steps=10_240 if quick else 500_000, threads=threads)
    reference = results[0]
    ref_rate = reference["median_steps_per_s"]
    rows = []
    for result in results[1:]:
        run = result["runs"][0]
        if "error" in run or ref_rate is None:
            why = run.get("error") or reference["runs"][0].get("error", "reference failed")
            rows.append(skipped("train", result["backend"], result["name"], why).as_dict())
            continue
        solve = run.get("solve_time_s")
        ref_solve = reference["median_solve_time_s"]
        note = (f"solved in {solve:.1f} s / {run['solve_steps']:,} steps" if solve else "not solved") + (
            f" (reference: {ref_solve:.1f} s / {reference['median_solve_steps']:,.0f} steps)" if ref_solve else "")
        rows.append(Row(
            group="train", backend=result["backend"], name=result["name"], ours=run["steps_per_s"],
            reference=ref_rate, unit="steps/s", reference_name=reference["name"],
            ratio=run["steps_per_s"] / ref_rate, ratio_kind="rate", note=note,
        ).as_dict())
    return rows


def rllib_rows(quick: bool, threads: int) -> tuple[list[dict], dict]:
    if importlib.util.find_spec("ray") is None:
        why = ('ray[rllib] is not installed in this environment; run `nox -s bench-rllib` '
               '(its own venv) or `pip install "ray[rllib]"`')
        print(f"rllib: {why}", file=sys.stderr)
        return [skipped("rllib", "rllib", "RLlib side by side", why).as_dict()], {}
    return run_worker("rllib", ["rllib"], quick, threads)


def header(info: dict[str, Any], args: argparse.Namespace, commit: str, dirty: bool, wall: float) -> list[str]:
    m = info["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(info["versions"].items()))
    return [
        f"# rlmodule-core benchmarks: {info['date']}, commit {commit}{' (with uncommitted changes)' if dirty else ''}",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}",
        f"- load average at start: {m['load_average_at_start']} (a shared machine: ratios, not absolute times, are the figures)",
        f"- Python {m['python']}; {versions}",
        f"- mode: {'quick' if args.quick else 'full'}; {args.threads} thread(s) per framework; wall time {wall:.0f} s",
        f"- command: `python benchmarks/run.py {' '.join(sys.argv[1:])}`".rstrip(),
    ]


def _variant(args: argparse.Namespace, groups: list[str], backends: list[str]) -> str:
    """A file-name suffix for partial or quick runs, so they never overwrite a full run's."""
    parts = ["quick"] if args.quick else []
    if set(groups) != set(GROUPS):
        parts.append("+".join(groups))
    if set(backends) != set(BACKENDS):
        parts.append("+".join(backends))
    return "".join(f"-{p}" for p in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated groups of {GROUPS}")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--quick", action="store_true", help="a short smoke run (few rounds, short training)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per framework")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = parser.parse_args()
    groups = [g for g in args.only.split(",") if g]
    backends = [b for b in args.backends.split(",") if b]
    unknown = sorted(set(groups) - set(GROUPS)) + sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown groups or backends {unknown}; groups are {GROUPS}, backends {BACKENDS}")

    start = time.perf_counter()
    info: dict[str, Any] = {"date": datetime.date.today().isoformat(), "machine": machine(), "versions": {}}
    rows: list[dict] = []
    in_workers = [g for g in groups if g in WORKER_GROUPS]
    for backend in backends if in_workers else []:
        print(f"{backend}: {', '.join(in_workers)} ...", file=sys.stderr, flush=True)
        found, versions = run_worker(backend, in_workers, args.quick, args.threads)
        rows += found
        info["versions"].update(versions)
    if "import" in groups:
        print("import cost ...", file=sys.stderr, flush=True)
        import import_cost

        rows += [r.as_dict() for r in import_cost.run(backends, rounds=2 if args.quick else 5)]
    if "train" in groups:
        print("training throughput ...", file=sys.stderr, flush=True)
        rows += train_rows(backends, args.quick, args.threads)
    if "rllib" in groups:
        print("RLlib side by side ...", file=sys.stderr, flush=True)
        found, versions = rllib_rows(args.quick, args.threads)
        rows += found
        if any(r.get("ratio") is not None for r in found):
            info["versions"].update({f"{k} (RLlib run)": v for k, v in versions.items()})
    wall = time.perf_counter() - start

    commit = _git("rev-parse", "--short", "HEAD") or "nogit"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    info.update(commit=commit, dirty=dirty, wall_time_s=round(wall, 1), args=vars(args) | {"out_dir": str(args.out_dir)})
    text = _report.markdown(header(info, args, commit, dirty, wall), rows, [g for g in GROUPS if g in groups])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / f"{info['date']}-{commit}{_variant(args, groups, backends)}"
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps({**info, "rows": rows}, indent=1) + "\n")
    print(text)
    print(f"wrote {stem}.md and {stem}.json ({wall:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
