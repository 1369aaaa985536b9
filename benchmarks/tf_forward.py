"""Forward-pass overhead of the TF backend against plain Keras layers, in one process.

Measures ``forward_inference`` of the default PPO module ([64, 64] tanh MLP, CartPole
spaces) at batch 1 and 256 against the same network (same weights) as plain Keras
layers, ``keras.Sequential([Dense(64, tanh), Dense(64, tanh), Dense(2)])``.
``forward_inference`` computes exactly that network (plus the module's reshape of the
observation; the value head is not evaluated), so the ratio is the library's overhead:

- ``tf.function, tensor obs``: ``module.forward_inference({"obs": tensor})`` (a
  ``tf.function`` per phase, the default) against
  ``tf.function(lambda x: net(x, training=False))(tensor)``. The target is a ratio of at
  most 1.15.
- ``tf.function, numpy obs``: NumPy observations (as from an environment): the module
  converts them; the reference gets ``tf.convert_to_tensor(obs)``.
- ``concrete function, tensor obs``: the reference called through its concrete function
  (``get_concrete_function`` once, then a direct call): TF's fastest calling path, which
  the module uses internally (a plain ``tf.function`` call re-derives the input signature
  every time). This row is the module's own overhead.
- ``eager, tensor obs``: both under ``tf.config.run_functions_eagerly(True)``: the
  module's forward pass runs eagerly, the reference is ``net(tensor, training=False)``.

Calls of the module and the reference alternate in rounds (the order flips every round)
so that machine noise hits both alike; a figure is the median over rounds of the mean
time per call in a round, and the ratio is module / reference of those medians.

Usage:
    python benchmarks/tf_forward.py [--rounds 40] [--calls 300]

Prints a markdown table and writes JSON to benchmarks/results/tf_forward.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rlmodule_tf import keras, tf  # chooses Keras's TensorFlow backend

import rlmodule_core as rlm
from rlmodule_core import Columns, DefaultModelConfig
from rlmodule_core.modules import DefaultPPORLModule

TARGET_RATIO = 1.15
RESULTS = Path(__file__).parent / "results" / "tf_forward.json"
OBS_DIM, N_ACTIONS, HIDDEN = 4, 2, [64, 64]


def build_module() -> Any:
    return rlm.RLModuleSpec(
        module_class=DefaultPPORLModule,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32),
        action_space=gym.spaces.Discrete(N_ACTIONS),
        model_config=DefaultModelConfig(fcnet_hiddens=HIDDEN, fcnet_activation="tanh"),
        framework="tf",
    ).build()


def reference_network(module: Any) -> keras.Sequential:
    """The module's policy network as plain Keras layers, with the module's weights."""
    state = module.get_state()
    prefixes = ["encoder.mlp.layers.0", "encoder.mlp.layers.1", "pi.layers.0"]
    net = keras.Sequential(
        [
            keras.Input((OBS_DIM,)),
            keras.layers.Dense(HIDDEN[0], activation="tanh"),
            keras.layers.Dense(HIDDEN[1], activation="tanh"),
            keras.layers.Dense(N_ACTIONS),
        ]
    )
    net.set_weights([state[f"{p}.{name}"] for p in prefixes for name in ("kernel", "bias")])
    return net


def settings() -> list[tuple[str, bool, Callable[[np.ndarray], tuple[Callable, Callable]]]]:
    """(name, eager, make) triples; ``make(obs)`` returns (module call, reference call)."""
    module = build_module()
    net = reference_network(module)
    compiled_net = tf.function(lambda x: net(x, training=False), reduce_retracing=True)

    def compiled_tensor(obs):
        x = tf.convert_to_tensor(obs)
        batch = {Columns.OBS: x}
        return (lambda: module.forward_inference(batch)), (lambda: compiled_net(x))

    def compiled_numpy(obs):
        batch = {Columns.OBS: obs}
        return (lambda: module.forward_inference(batch)), (lambda: compiled_net(tf.convert_to_tensor(obs)))

    def concrete_tensor(obs):
        x = tf.convert_to_tensor(obs)
        batch = {Columns.OBS: x}
        concrete = compiled_net.get_concrete_function(tf.TensorSpec((None, OBS_DIM), tf.float32))
        return (lambda: module.forward_inference(batch)), (lambda: concrete(x))

    def eager_tensor(obs):
        x = tf.convert_to_tensor(obs)
        batch = {Columns.OBS: x}
        return (lambda: module.forward_inference(batch)), (lambda: net(x, training=False))

    return [
        ("tf.function, tensor obs", False, compiled_tensor),
        ("tf.function, numpy obs", False, compiled_numpy),
        ("concrete function, tensor obs", False, concrete_tensor),
        ("eager, tensor obs", True, eager_tensor),
    ]


def check_same_outputs(module_call: Callable, reference: Callable) -> None:
    got = module_call()[Columns.ACTION_DIST_INPUTS].numpy()
    want = np.asarray(reference())
    if not np.allclose(got, want, atol=1e-5):
        raise AssertionError("The module and the reference network disagree; the benchmark is void.")


def time_pair(module_call: Callable, reference: Callable, rounds: int, calls: int) -> tuple[float, float]:
    """Median over rounds of the mean microseconds per call, module and reference."""
    for fn in (module_call, reference):  # warm-up (and tracing)
        for _ in range(max(calls // 4, 20)):
            fn()
    per_call: dict[str, list[float]] = {"module": [], "reference": []}
    for r in range(rounds):
        order = [("module", module_call), ("reference", reference)]
        if r % 2:
            order.reverse()
        for name, fn in order:
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            per_call[name].append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(per_call["module"]), statistics.median(per_call["reference"])


def run(rounds: int, calls: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    rows = []
    for name, eager, make in settings():
        tf.config.run_functions_eagerly(eager)
        try:
            for batch in (1, 256):
                obs = rng.uniform(-1, 1, (batch, OBS_DIM)).astype(np.float32)
                module_call, reference = make(obs)
                check_same_outputs(module_call, reference)
                n = calls if not eager else max(calls // 4, 20)
                mod_us, ref_us = time_pair(module_call, reference, rounds, n)
                rows.append({
                    "setting": name, "batch": batch,
                    "module_us": round(mod_us, 2), "reference_us": round(ref_us, 2),
                    "ratio": round(mod_us / ref_us, 3),
                })
        finally:
            tf.config.run_functions_eagerly(False)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| setting | batch | module (us) | Keras reference (us) | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['batch']} | {r['module_us']:.1f} | {r['reference_us']:.1f} | {r['ratio']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=300, help="calls per round (a quarter when eager)")
    args = parser.parse_args()

    rows = run(args.rounds, args.calls)
    print(markdown(rows))
    for r in rows:
        if r["setting"].startswith("tf.function"):
            verdict = "meets" if r["ratio"] <= TARGET_RATIO else "MISSES"
            print(f"{r['setting']}, batch {r['batch']}: ratio {r['ratio']:.3f} {verdict} the target {TARGET_RATIO}")
        elif r["setting"].startswith("concrete"):
            extra = r["module_us"] - r["reference_us"]
            print(f"{r['setting']}, batch {r['batch']}: the module's own cost is {extra:.1f} us per call")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "tf_forward",
        "module": "DefaultPPORLModule fcnet_hiddens=[64, 64] tanh, obs (4,), Discrete(2)",
        "reference": "keras.Sequential([Dense(64, tanh), Dense(64, tanh), Dense(2)]), "
                     "under tf.function or eager",
        "target_ratio_tf_function": TARGET_RATIO,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rounds": args.rounds,
        "calls_per_round": args.calls,
        "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
