"""Weight-sync throughput: ``get_state``/``set_state`` of a ~10M-parameter module vs memcpy.

What a learner does every iteration to update its env runners: read the inference-only
state of a large module (``learner.get_state(inference_only=True)``) and load it into an
inference-only copy (``actor.set_state(state)``). The module is ``DefaultPPORLModule``
with ``fcnet_hiddens=[2048, 2048, 2048]`` on a ``Box(1024,)`` observation and
``Discrete(2)`` actions (10,496,002 parameters in the inference-only state, ~42 MB of
float32). The reference is a plain ``np.copyto`` of the same arrays into existing,
already-touched buffers (memcpy bandwidth); figures are bandwidths as a fraction of it.

Rows: ``get_state`` (fresh arrays, the default), ``get_state(out=previous)`` (filling the
arrays of an earlier call in place, where the library supports ``out=``), ``set_state``,
and for context ``ndarray.copy()`` (fresh arrays in plain NumPy: what allocating and
page-faulting new memory costs). On JAX, ``set_state`` is timed until the new values are
ready (JAX transfers host arrays asynchronously). Target: at least 0.5x memcpy on torch and NumPy.

Usage:
    python benchmarks/state_sync.py --backend torch [--rounds 15]
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import Row, Target, interleaved, large_ppo, parameter_count, state_bytes

TARGET = Target("ratio_min", 0.5)
TARGET_BACKENDS = ("torch", "numpy")


def _row(backend: str, name: str, timing, key: str, nbytes: int, target: Target | None, note: str = "") -> Row:
    ours, ref = timing.median(key), timing.median("memcpy")
    return Row(
        group="state", backend=backend, name=name, ours=ours * 1e3, reference=ref * 1e3,
        unit="ms", reference_name="np.copyto into existing arrays (memcpy)",
        ratio=1.0 / timing.ratio(key, "memcpy"), ratio_kind="bandwidth", note=note,
        extra={"ours_gb_s": round(nbytes / ours / 1e9, 2), "reference_gb_s": round(nbytes / ref / 1e9, 2)},
    ).judge(target)


def _settler(backend: str, module: Any) -> Callable[[], None]:
    """Waits until ``module``'s parameters hold the values set (JAX copies asynchronously)."""
    if backend != "jax":
        return lambda: None
    import jax
    from rlmodule_jax.state import named_state

    return lambda: jax.block_until_ready([v.get_value() for v in named_state(module).values()])


def run(backend: str, rounds: int) -> list[Row]:
    """The state-sync rows for one backend (the runner's entry point)."""
    learner = large_ppo(backend)
    actor = large_ppo(backend, inference_only=True)
    state = learner.get_state(inference_only=True)
    nbytes, count = state_bytes(state), parameter_count(state)
    targets = {k: np.empty_like(v) for k, v in state.items()}
    for array in targets.values():
        array.fill(0)  # touch every page: memcpy into memory that is already mapped

    def memcpy() -> None:
        for key, value in state.items():
            np.copyto(targets[key], value)

    settle = _settler(backend, actor)

    def put() -> None:
        actor.set_state(state)
        settle()

    fns: dict[str, Any] = {
        "memcpy": memcpy,
        "get": lambda: learner.get_state(inference_only=True),
        "set": put,
        "fresh copy": lambda: {k: v.copy() for k, v in state.items()},
    }
    reuse = "out" in inspect.signature(learner.get_state).parameters
    if reuse:
        previous = learner.get_state(inference_only=True)
        fns["get out"] = lambda: learner.get_state(inference_only=True, out=previous)
    timing = interleaved(fns, rounds=rounds, calls=1, warmup=2)

    target = TARGET if backend in TARGET_BACKENDS else None
    size = f"{count:,} parameters, {nbytes / 1e6:.1f} MB"
    rows = [_row(backend, "get_state(inference_only=True)", timing, "get", nbytes, target, size)]
    if reuse:
        rows.append(_row(backend, "get_state(inference_only=True, out=previous)", timing,
                         "get out", nbytes, target, size))
    else:
        rows.append(Row(group="state", backend=backend, name="get_state(..., out=previous)",
                        note="skipped: this version of get_state has no out="))
    rows.append(_row(backend, "set_state (inference-only module)", timing, "set", nbytes, target, size))
    rows.append(_row(backend, "ndarray.copy() into fresh arrays", timing, "fresh copy", nbytes, None,
                     "context: plain NumPy, not the module"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    for row in run(args.backend, args.rounds):
        if row.ratio is None:
            print(f"{row.name}: {row.note}")
            continue
        print(f"{row.name}: {row.ours:.2f} ms ({row.extra['ours_gb_s']} GB/s) vs memcpy "
              f"{row.reference:.2f} ms ({row.extra['reference_gb_s']} GB/s): {row.ratio:.2f}x "
              f"{'' if row.target is None else ('met' if row.met else 'MISSED')} {row.note}")


if __name__ == "__main__":
    main()
