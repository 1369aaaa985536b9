"""Import cost, each import timed inside a fresh Python process.

- ``import rlmodule_core`` alone: target under 150 ms, and no framework in
  ``sys.modules`` afterwards. Reference (for context): importing the packages it builds
  on, ``numpy`` and ``gymnasium``.
- ``rlmodule_core.get_backend(name)`` (after ``import rlmodule_core``) against importing
  the framework alone: ``numpy``; ``torch``; ``tensorflow`` + ``keras``; ``jax`` +
  ``flax.nnx``.

Only the import statements are timed (interpreter start-up is not); the variants are
interleaved round by round and each figure is the median over rounds.

Usage:
    python benchmarks/import_cost.py [--rounds 5] [--backends numpy,torch,tf,jax]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from _common import Row, Target, thread_env

TARGET = Target("abs_max_ms", 150.0)
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "flax", "optax")
FRAMEWORK_IMPORTS = {
    "numpy": "import numpy",
    "torch": "import torch",
    "tf": "import tensorflow, keras",
    "jax": "import jax; from flax import nnx",
}
CORE = "import rlmodule_core"
CORE_REFERENCE = "import numpy, gymnasium"

_CHILD = """
import json, sys, time
start = time.perf_counter()
{code}
elapsed = time.perf_counter() - start
print(json.dumps({{"s": elapsed, "frameworks": sorted(m for m in {frameworks!r} if m in sys.modules)}}))
"""


def time_import(code: str) -> dict:
    """``{"s": seconds, "frameworks": [...]}`` of ``code`` in a fresh interpreter."""
    child = _CHILD.format(code=code, frameworks=FRAMEWORKS)
    env = thread_env(1)
    env.setdefault("KERAS_BACKEND", "tensorflow")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        raise RuntimeError(f"{code!r} failed in a fresh process: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(ours: str, reference: str, rounds: int) -> tuple[list[dict], list[dict]]:
    """Interleaved fresh-process timings of two import statements (after one warm-up each)."""
    time_import(ours), time_import(reference)  # warm the OS file cache
    mine, theirs = [], []
    for r in range(rounds):
        order = [(ours, mine), (reference, theirs)]
        for code, out in order[::-1] if r % 2 else order:
            out.append(time_import(code))
    return mine, theirs


def _median_ms(results: list[dict]) -> float:
    return statistics.median(r["s"] for r in results) * 1e3


def _ratio(mine: list[dict], theirs: list[dict]) -> float:
    return statistics.median(a["s"] / b["s"] for a, b in zip(mine, theirs))


def run(backends: list[str], rounds: int) -> list[Row]:
    """The import rows (the runner's entry point)."""
    mine, theirs = compare(CORE, CORE_REFERENCE, rounds)
    leaked = sorted({m for r in mine for m in r["frameworks"]})
    row = Row(
        group="import", backend="core", name=CORE, ours=_median_ms(mine),
        reference=_median_ms(theirs), unit="ms", reference_name=CORE_REFERENCE,
        ratio=_ratio(mine, theirs),
        note="no framework imported" if not leaked else f"IMPORTED FRAMEWORKS: {leaked}",
        extra={"frameworks_imported": leaked},
    ).judge(TARGET)
    row.met = bool(row.met) and not leaked
    rows = [row]
    for backend in backends:
        code = f"import rlmodule_core; rlmodule_core.get_backend({backend!r})"
        reference = FRAMEWORK_IMPORTS[backend]
        try:
            mine, theirs = compare(code, reference, rounds)
        except RuntimeError as err:
            rows.append(Row(group="import", backend=backend, name="get_backend", note=f"skipped: {err}"))
            continue
        rows.append(Row(
            group="import", backend=backend, name=f"get_backend({backend!r})",
            ours=_median_ms(mine), reference=_median_ms(theirs), unit="ms",
            reference_name=reference, ratio=_ratio(mine, theirs),
        ))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="numpy,torch,tf,jax")
    args = parser.parse_args()
    for row in run(args.backends.split(","), args.rounds):
        if row.ratio is None:
            print(f"{row.backend}: {row.note}")
            continue
        target = "" if row.target is None else f" target {row.target}: {'met' if row.met else 'MISSED'}"
        print(f"{row.name}: {row.ours:.0f} ms vs {row.reference_name}: {row.reference:.0f} ms "
              f"({row.ratio:.2f}x){target} {row.note}")


if __name__ == "__main__":
    main()
