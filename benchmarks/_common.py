"""Shared pieces of the benchmarks: interleaved timing, result rows, the modules measured.

Every figure is measured against a reference in the same process. Calls of the
variants being compared are interleaved round by round (the order rotates every round),
so that load from other processes on a shared machine hits them alike; a figure is the
median over rounds of the mean time per call within a round, and a ratio is the median
of the per-round ratios (a paired statistic, robust to slow drifts of the machine).
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

#: The small policy of the forward benchmarks: CartPole's spaces, a [64, 64] MLP.
SMALL_OBS, SMALL_ACTIONS, SMALL_HIDDEN = 4, 2, [64, 64]
#: The ~10M-parameter module of the state and checkpoint benchmarks.
LARGE_OBS, LARGE_ACTIONS, LARGE_HIDDEN = 1024, 2, [2048, 2048, 2048]

#: The policy head's prefix in the canonical state (the encoder's is encoder.mlp.layers.<i>).
PI_PREFIX = "pi.layers.0"


# ---- modules ---------------------------------------------------------------------------


def build_ppo(
    framework: str, *, hidden: list[int], obs_dim: int, n_actions: int, inference_only: bool = False
) -> Any:
    """The default PPO module (shared encoder, tanh) on ``framework``, seeded."""
    import rlmodule_core as rlm
    from rlmodule_core import DefaultModelConfig
    from rlmodule_core.modules import DefaultPPORLModule

    return rlm.RLModuleSpec(
        module_class=DefaultPPORLModule,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
        action_space=gym.spaces.Discrete(n_actions),
        # DefaultModelConfig(fcnet_hiddens=...) plus a seed: same weights on every backend.
        model_config={**asdict(DefaultModelConfig(fcnet_hiddens=list(hidden))), "seed": 0},
        inference_only=inference_only,
        framework=framework,
    ).build()


def small_ppo(framework: str) -> Any:
    return build_ppo(framework, hidden=SMALL_HIDDEN, obs_dim=SMALL_OBS, n_actions=SMALL_ACTIONS)


def large_ppo(framework: str, *, inference_only: bool = False) -> Any:
    return build_ppo(
        framework, hidden=LARGE_HIDDEN, obs_dim=LARGE_OBS, n_actions=LARGE_ACTIONS,
        inference_only=inference_only,
    )


def mlp_weights(state: Mapping[str, np.ndarray], n_hidden: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(kernel (in, out), bias), ...]`` of the encoder layers then the policy head."""
    prefixes = [f"encoder.mlp.layers.{i}" for i in range(n_hidden)] + [PI_PREFIX]
    return [(state[f"{p}.kernel"], state[f"{p}.bias"]) for p in prefixes]


def observations(batch: int, dim: int = SMALL_OBS, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (batch, dim)).astype(np.float32)


def parameter_count(state: Mapping[str, np.ndarray]) -> int:
    return int(sum(np.asarray(v).size for v in state.values()))


def state_bytes(state: Mapping[str, np.ndarray]) -> int:
    return int(sum(np.asarray(v).nbytes for v in state.values()))


# ---- timing ----------------------------------------------------------------------------


@dataclass
class Timing:
    """Per-round mean seconds per call of each variant, and the paired ratios."""

    seconds: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])

    def ratio(self, name: str, reference: str) -> float:
        """Median over rounds of ``name``'s time divided by ``reference``'s in the same round."""
        pairs = zip(self.seconds[name], self.seconds[reference])
        return statistics.median(a / b for a, b in pairs)


def interleaved(
    fns: Mapping[str, Callable[[], Any]], *, rounds: int, calls: int = 1, warmup: int = 1
) -> Timing:
    """Times every function in ``fns`` round by round, rotating the order each round.

    Garbage collection is paused inside a round (and run between rounds) so that a
    collection triggered by one variant's allocations is not billed to another.
    """
    names = list(fns)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    timer = time.perf_counter
    enabled = gc.isenabled()
    try:
        for r in range(rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            if r % 2:
                order.reverse()
            gc.collect()
            gc.disable()
            for name in order:
                fn = fns[name]
                start = timer()
                for _ in range(calls):
                    fn()
                seconds[name].append((timer() - start) / calls)
            if enabled:
                gc.enable()
    finally:
        if enabled:
            gc.enable()
    return Timing(seconds)


# ---- result rows ---------------------------------------------------------------------


@dataclass
class Target:
    """A target on a row: ``ratio <= value``, ``ratio >= value`` or ``ours < value`` (ms)."""

    kind: str  # "ratio_max" | "ratio_min" | "abs_max_ms"
    value: float

    def met(self, row: Row) -> bool | None:
        if self.kind == "ratio_max":
            return row.ratio is not None and row.ratio <= self.value
        if self.kind == "ratio_min":
            return row.ratio is not None and row.ratio >= self.value
        if self.kind == "abs_max_ms":
            return row.ours is not None and row.ours < self.value
        raise ValueError(f"unknown target kind {self.kind!r}")

    def __str__(self) -> str:
        symbol = {"ratio_max": "<= {}x", "ratio_min": ">= {}x", "abs_max_ms": "< {} ms"}[self.kind]
        return symbol.format(f"{self.value:g}")


@dataclass
class Row:
    """One figure: ours against its reference, both measured in the same process.

    ``ratio`` is ours / reference for times (lower is better) and reference / ours for
    state sync (bandwidth as a fraction of memcpy's; higher is better), as ``ratio_kind``
    says.
    """

    group: str
    backend: str
    name: str
    variant: str = ""
    batch: int | None = None
    ours: float | None = None
    reference: float | None = None
    unit: str = "us"
    reference_name: str = ""
    ratio: float | None = None
    ratio_kind: str = "time"  # "time": ours/reference; "bandwidth": reference/ours; "rate": ours/reference
    target: str | None = None
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def judge(self, target: Target | None) -> Row:
        if target is not None:
            self.target = str(target)
            self.met = target.met(self)
        return self

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("ours", "reference"):
            if out[key] is not None:
                out[key] = round(out[key], 3)
        if out["ratio"] is not None:
            out["ratio"] = round(out["ratio"], 3)
        return out


def skipped(group: str, backend: str, name: str, why: str) -> Row:
    """A row that says why a figure could not be measured (backend missing, ...)."""
    return Row(group=group, backend=backend, name=name, note=f"skipped: {why}")


# ---- processes -------------------------------------------------------------------------


def thread_env(threads: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment pinning every framework to ``threads`` intra-op threads (quiet TF logs)."""
    env = dict(os.environ if base is None else base)
    env.update(
        OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
        TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    # XLA takes no thread count, only Eigen's pool on or off (an unknown flag aborts JAX's
    # start); more than one thread keeps XLA's default pool.
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_multi_thread_eigen")]
    if threads == 1:
        flags.append("--xla_cpu_multi_thread_eigen=false")
    env["XLA_FLAGS"] = " ".join(flags)
    return env
