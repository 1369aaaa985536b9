"""Runs one backend's benchmark groups in this process and writes their rows as JSON.

``benchmarks/run.py`` starts one worker per backend, so frameworks never share a
process. A group that fails is reported as a row saying why; the others still run.

Usage (normally through run.py):
    python benchmarks/_worker.py --backend torch --groups forward,state,checkpoint --out rows.json [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import json
import traceback
from pathlib import Path
from typing import Any

from _common import Row, skipped

#: (rounds, calls per round at batch 1) per mode; the forward scripts scale calls by batch.
SETTINGS = {
    "full": {"forward": (20, 200), "state": (15, 1), "checkpoint": (7, 1), "rllib": (15, 200)},
    "quick": {"forward": (4, 40), "state": (4, 1), "checkpoint": (2, 1), "rllib": (4, 40)},
}


def versions(backend: str) -> dict[str, str]:
    """Versions of the packages the backend's figures depend on."""
    names = {"numpy": ["numpy"], "torch": ["torch"], "tf": ["tensorflow", "keras"],
             "jax": ["jax", "flax"], "rllib": ["ray", "torch", "gymnasium"]}[backend]
    out = {}
    for name in ["numpy", *names]:
        try:
            out[name] = importlib.import_module(name).__version__
        except Exception as err:  # a version is nice to have, never a reason to fail
            out[name] = f"unavailable ({type(err).__name__})"
    return out


def _forward(backend: str, rounds: int, calls: int) -> list[Row]:
    module = importlib.import_module(f"{backend}_forward")
    return module.run(rounds, calls)


def _state(backend: str, rounds: int, calls: int) -> list[Row]:
    import state_sync

    return state_sync.run(backend, rounds)


def _checkpoint(backend: str, rounds: int, calls: int) -> list[Row]:
    import checkpoints

    return checkpoints.run(backend, rounds)


def _rllib(backend: str, rounds: int, calls: int) -> list[Row]:
    import rllib_compare

    return rllib_compare.run(rounds, calls)


GROUPS = {"forward": _forward, "state": _state, "checkpoint": _checkpoint, "rllib": _rllib}


def _prepare(backend: str, threads: int) -> None:
    """Imports the backend (raising if it cannot) and pins torch's thread count."""
    if backend in ("torch", "rllib"):
        import torch  # before TF or anything else that may load another OpenMP

        torch.set_num_threads(threads)
    if backend != "rllib":
        import rlmodule_core

        rlmodule_core.get_backend(backend)


def run(backend: str, groups: list[str], quick: bool, threads: int) -> dict[str, Any]:
    settings = SETTINGS["quick" if quick else "full"]
    try:
        _prepare(backend, threads)
    except Exception as err:
        why = f"the {backend} backend cannot be used here ({type(err).__name__}: {err})"
        return {"backend": backend, "versions": {}, "rows": [skipped(g, backend, g, why).as_dict() for g in groups]}
    rows: list[Row] = []
    for group in groups:
        rounds, calls = settings[group]
        try:
            rows += GROUPS[group](backend, rounds, calls)
        except Exception as err:
            traceback.print_exc()
            rows.append(Row(group=group, backend=backend, name=group,
                            note=f"error: {type(err).__name__}: {err}"))
    return {"backend": backend, "versions": versions(backend), "rows": [r.as_dict() for r in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True)
    parser.add_argument("--groups", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    result = run(args.backend, args.groups.split(","), args.quick, args.threads)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
