"""The forward-overhead harness the per-backend scripts share.

A backend script describes its cases (``ForwardCase``: the module call and the raw
framework call of the same network, same weights) for a given observation batch;
``run_forward`` checks that both compute the same numbers, times them interleaved and
turns them into result rows. Targets (issue 9): at batch 1, at most 1.10x the raw call
on compiled paths and 1.15x on eager ones; batch 256 is reported without a target.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _common import Row, Target, interleaved, observations

COMPILED_TARGET = Target("ratio_max", 1.10)
EAGER_TARGET = Target("ratio_max", 1.15)
PHASES = ("forward_inference", "forward_exploration", "forward_train")


@dataclass
class ForwardCase:
    """One comparison: ``module()`` against ``reference()`` (plus context variants).

    ``check()`` raises when the two disagree (a void benchmark); ``context`` variants are
    timed in the same rounds and reported as ratios to the reference, without a target.
    ``around()`` is entered while the case is checked and timed (e.g. TF's eager mode).
    """

    variant: str
    phase: str
    compiled: bool
    module: Callable[[], Any]
    reference: Callable[[], Any]
    reference_name: str
    check: Callable[[], None] | None = None
    context: dict[str, Callable[[], Any]] = field(default_factory=dict)
    around: Callable[[], AbstractContextManager] = contextlib.nullcontext


def assert_close(got: Any, want: Any, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-5, rtol=1e-4):
        raise AssertionError(
            f"{what}: the module and the reference network disagree "
            f"(shapes {got.shape} / {want.shape}); the benchmark is void."
        )


def run_forward(
    backend: str,
    make_cases: Callable[[np.ndarray], Iterable[ForwardCase]],
    *,
    rounds: int,
    calls: int,
    batches: Iterable[int] = (1, 256),
    calls_for: Callable[[ForwardCase, int], int] | None = None,
) -> list[Row]:
    """Rows for every case at every batch size.

    ``calls`` is the number of calls per round at batch 1 (a quarter at batch 256);
    ``calls_for(case, batch)`` overrides it (slow eager paths).
    """
    rows: list[Row] = []
    for batch in batches:
        for case in make_cases(observations(batch)):
            n = calls_for(case, batch) if calls_for else (calls if batch == 1 else max(calls // 4, 5))
            fns = {"module": case.module, "reference": case.reference, **case.context}
            with case.around():
                if case.check is not None:
                    case.check()
                timing = interleaved(fns, rounds=rounds, calls=n, warmup=max(n // 4, 5))
            target = (COMPILED_TARGET if case.compiled else EAGER_TARGET) if batch == 1 else None
            rows.append(Row(
                group="forward", backend=backend, name=case.phase, variant=case.variant,
                batch=batch, ours=timing.median("module") * 1e6,
                reference=timing.median("reference") * 1e6, unit="us",
                reference_name=case.reference_name, ratio=timing.ratio("module", "reference"),
            ).judge(target))
            for name in case.context:
                rows.append(Row(
                    group="forward", backend=backend, name=case.phase, variant=name,
                    batch=batch, ours=timing.median(name) * 1e6,
                    reference=timing.median("reference") * 1e6, unit="us",
                    reference_name=case.reference_name, ratio=timing.ratio(name, "reference"),
                    note="context (not the module)",
                ))
    return rows


def markdown(rows: Iterable[Row]) -> str:
    """A table of forward rows (the standalone scripts print it)."""
    lines = [
        "| phase | variant | batch | module (us) | reference (us) | ratio | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        verdict = "" if r.target is None else f"{r.target} {'met' if r.met else 'MISSED'}"
        lines.append(
            f"| {r.name} | {r.variant} | {r.batch} | {r.ours:.1f} | {r.reference:.1f} | "
            f"{r.ratio:.3f} | {verdict} |"
        )
    return "\n".join(lines)
