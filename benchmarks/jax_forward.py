"""Forward-pass overhead of the JAX backend against raw Flax NNX, in one process.

Measures ``forward_inference`` of the default PPO module ([64, 64] tanh MLP, CartPole
spaces) at batch 1 and 256:

- ``module compiled``: ``module.forward_inference({"obs": obs})`` (JAX modules are
  jitted by default).
- ``module eager``: the same module with ``backend.compile(module, jit=False)``.
- ``reference`` (the target's yardstick): the same network as a ``jax.jit``-ed pure
  function of its NNX state split once,
  ``f = jax.jit(lambda state, x: pi(encoder(nnx.merge(graphdef, state))))``, called as
  ``f(state, x)``.
- ``floor``: the same pure function of the state's arrays, read once before timing (no
  per-call work at all: the lowest a jitted call can cost).
- ``nnx.jit``: the same network through ``nnx.jit`` (for context).

Inputs are NumPy observations (as from an environment); every call blocks until the
result is ready. Calls of all variants are interleaved in rounds so that machine noise
hits them alike; each figure is the median over rounds of the per-round median.

Usage:
    python benchmarks/jax_forward.py [--rounds 30] [--calls 200]

Writes a markdown table to stdout and JSON to benchmarks/results/jax_forward.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import jax
import numpy as np
from flax import nnx

import rlmodule_core as rlm
from rlmodule_core import Columns, DefaultModelConfig
from rlmodule_core.modules import DefaultPPORLModule

TARGET_RATIO = 1.15
RESULTS = Path(__file__).parent / "results" / "jax_forward.json"


def build_module() -> Any:
    return rlm.RLModuleSpec(
        module_class=DefaultPPORLModule,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        action_space=gym.spaces.Discrete(2),
        model_config=DefaultModelConfig(fcnet_hiddens=[64, 64], fcnet_activation="tanh"),
        framework="jax",
    ).build()


REFERENCE = "reference: jax.jit(f)(state, x), split once"
FLOOR = "floor: jax.jit(f)(arrays, x), arrays read once"


def variants(obs: np.ndarray) -> dict[str, Callable[[], Any]]:
    backend = rlm.get_backend("jax")
    compiled = build_module()  # compiled by default; compile() kept explicit for clarity
    backend.compile(compiled)
    eager = backend.compile(build_module(), jit=False)
    network = build_module()
    graphdef, state = nnx.split(network)
    leaves, treedef = jax.tree.flatten(state)

    @jax.jit
    def pure(state, x):
        net = nnx.merge(graphdef, state)
        return net.pi(net.encoder(x))

    @jax.jit
    def pure_arrays(arrays, x):
        net = nnx.merge(graphdef, jax.tree.unflatten(treedef, arrays))
        return net.pi(net.encoder(x))

    @nnx.jit
    def via_nnx_jit(net, x):
        return net.pi(net.encoder(x))

    batch = {Columns.OBS: obs}
    return {
        "module compiled (default)": lambda: compiled.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].block_until_ready(),
        REFERENCE: lambda: pure(state, obs).block_until_ready(),
        FLOOR: lambda: pure_arrays(leaves, obs).block_until_ready(),
        "module eager (jit=False)": lambda: eager.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].block_until_ready(),
        "nnx.jit": lambda: via_nnx_jit(network, obs).block_until_ready(),
    }


def measure(fns: dict[str, Callable[[], Any]], rounds: int, calls: int) -> dict[str, tuple[float, float]]:
    """``{name: (median over rounds, best round)}`` of the per-round median call time in us.

    The best round shows the cost on a quiet machine (other processes only add time).
    """
    for fn in fns.values():  # compile and warm up
        for _ in range(50):
            fn()
    per_round: dict[str, list[float]] = {name: [] for name in fns}
    timer = time.perf_counter
    for _ in range(rounds):
        for name, fn in fns.items():
            times = np.empty(calls)
            for i in range(calls):
                start = timer()
                fn()
                times[i] = timer() - start
            per_round[name].append(float(np.median(times)) * 1e6)
    return {name: (float(np.median(values)), float(np.min(values))) for name, values in per_round.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    rows = []
    for batch_size in (1, 256):
        obs = np.random.default_rng(0).uniform(-1, 1, (batch_size, 4)).astype(np.float32)
        medians = measure(variants(obs), args.rounds, args.calls)
        (reference, reference_best), (floor, _) = medians[REFERENCE], medians[FLOOR]
        for name, (us, best) in medians.items():
            rows.append({"batch": batch_size, "variant": name, "median_us": round(us, 2),
                         "best_round_us": round(best, 2),
                         "ratio_to_reference": round(us / reference, 3),
                         "best_ratio_to_reference": round(best / reference_best, 3),
                         "ratio_to_floor": round(us / floor, 3)})

    print("| batch | variant | median us | ratio to reference | ratio to floor | best round us | best-round ratio |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['batch']} | {row['variant']} | {row['median_us']:.1f} | "
              f"{row['ratio_to_reference']:.2f} | {row['ratio_to_floor']:.2f} | "
              f"{row['best_round_us']:.1f} | {row['best_ratio_to_reference']:.2f} |")
    compiled = {r["batch"]: r["ratio_to_reference"] for r in rows if r["variant"] == "module compiled (default)"}
    verdict = all(ratio <= TARGET_RATIO for ratio in compiled.values())
    print(f"\ncompiled forward_inference / reference: {compiled} (target <= {TARGET_RATIO}: "
          f"{'met' if verdict else 'NOT met'})")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "jax_forward",
        "network": "DefaultPPORLModule, fcnet_hiddens=[64, 64], tanh, CartPole spaces",
        "jax": jax.__version__,
        "flax": __import__("flax").__version__,
        "machine": platform.machine(),
        "rounds": args.rounds,
        "calls_per_round": args.calls,
        "target_ratio": TARGET_RATIO,
        "target_met": verdict,
        "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
