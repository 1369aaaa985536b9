"""Forward-pass overhead of the torch backend against a plain torch network, in one process.

Measures ``forward_inference`` of the default PPO module ([64, 64] tanh MLP, CartPole
spaces) at batch 1 and 256 against the same network (same weights) as a plain
``torch.nn.Sequential(Linear, Tanh, Linear, Tanh, Linear)`` called under
``torch.no_grad()``. ``forward_inference`` computes exactly that network (the value
head is not evaluated), so the ratio is the library's overhead:

- ``eager, tensor obs``: ``module.forward_inference({"obs": tensor})`` against
  ``with torch.no_grad(): net(tensor)``. The target is a ratio of at most 1.15 at
  batch 1.
- ``eager, numpy obs``: NumPy observations (as from an environment): the module
  converts them; the reference calls ``torch.from_numpy`` first.
- ``compiled``: ``rlm.get_backend("torch").compile(module)`` against
  ``torch.compile(net)`` (tensor observations); skipped with ``--no-compile``.

Each setting runs with ``torch.set_num_threads(1)`` and with torch's default thread
count. Calls of the module and the reference alternate in rounds (the order flips every
round) so that machine noise hits both alike; a figure is the median over rounds of the
mean time per call in a round, and the ratio is module / reference of those medians.

Usage:
    python benchmarks/torch_forward.py [--rounds 40] [--calls 300] [--no-compile]

Prints a markdown table and writes JSON to benchmarks/results/torch_forward.json.
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
import torch

import rlmodule_core as rlm
from rlmodule_core import Columns, DefaultModelConfig
from rlmodule_core.modules import DefaultPPORLModule

TARGET_RATIO = 1.15
RESULTS = Path(__file__).parent / "results" / "torch_forward.json"
OBS_DIM, N_ACTIONS, HIDDEN = 4, 2, [64, 64]


def build_module() -> Any:
    return rlm.RLModuleSpec(
        module_class=DefaultPPORLModule,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32),
        action_space=gym.spaces.Discrete(N_ACTIONS),
        model_config=DefaultModelConfig(fcnet_hiddens=HIDDEN, fcnet_activation="tanh"),
        framework="torch",
    ).build()


def reference_network(module: Any) -> torch.nn.Sequential:
    """The module's policy network as plain torch layers, with the module's weights."""
    state = module.get_state()
    kernels = [
        "encoder.mlp.layers.0.kernel", "encoder.mlp.layers.1.kernel", "pi.layers.0.kernel",
    ]
    linears = []
    for key in kernels:
        kernel = torch.from_numpy(state[key])
        linear = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            linear.weight.copy_(kernel.T)
            linear.bias.copy_(torch.from_numpy(state[key.replace("kernel", "bias")]))
        linears.append(linear)
    net = torch.nn.Sequential(linears[0], torch.nn.Tanh(), linears[1], torch.nn.Tanh(), linears[2])
    return net.eval()


def settings(compile_too: bool) -> list[tuple[str, Callable[[np.ndarray], tuple[Callable, Callable]]]]:
    """(name, make) pairs; ``make(obs)`` returns (module call, reference call)."""
    module = build_module()
    net = reference_network(module)

    def eager_tensor(obs):
        x = torch.from_numpy(obs)
        batch = {Columns.OBS: x}

        def reference():
            with torch.no_grad():
                return net(x)

        return (lambda: module.forward_inference(batch)), reference

    def eager_numpy(obs):
        batch = {Columns.OBS: obs}

        def reference():
            with torch.no_grad():
                return net(torch.from_numpy(obs))

        return (lambda: module.forward_inference(batch)), reference

    out = [("eager, tensor obs", eager_tensor), ("eager, numpy obs", eager_numpy)]
    if compile_too:
        compiled_module = rlm.get_backend("torch").compile(build_module())
        compiled_module.set_state(module.get_state())
        compiled_net = torch.compile(reference_network(module))

        def compiled(obs):
            x = torch.from_numpy(obs)
            batch = {Columns.OBS: x}

            def reference():
                with torch.no_grad():
                    return compiled_net(x)

            return (lambda: compiled_module.forward_inference(batch)), reference

        out.append(("compiled, tensor obs", compiled))
    return out


def check_same_outputs(module_call: Callable, reference: Callable) -> None:
    got = module_call()[Columns.ACTION_DIST_INPUTS]
    want = reference()
    if not torch.allclose(got, want, atol=1e-5):
        raise AssertionError("The module and the reference network disagree; the benchmark is void.")


def time_pair(module_call: Callable, reference: Callable, rounds: int, calls: int) -> tuple[float, float]:
    """Median over rounds of the mean microseconds per call, module and reference."""
    for fn in (module_call, reference):  # warm-up (and compilation)
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


def run(rounds: int, calls: int, compile_too: bool) -> list[dict[str, Any]]:
    default_threads = torch.get_num_threads()
    rng = np.random.default_rng(0)
    rows = []
    cases = settings(compile_too)
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for name, make in cases:
            for batch in (1, 256):
                obs = rng.uniform(-1, 1, (batch, OBS_DIM)).astype(np.float32)
                module_call, reference = make(obs)
                check_same_outputs(module_call, reference)
                n = calls if batch == 1 else max(calls // 4, 20)
                mod_us, ref_us = time_pair(module_call, reference, rounds, n)
                rows.append({
                    "setting": name, "threads": threads, "batch": batch,
                    "module_us": round(mod_us, 2), "reference_us": round(ref_us, 2),
                    "ratio": round(mod_us / ref_us, 3),
                })
    torch.set_num_threads(default_threads)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| setting | threads | batch | module (us) | torch reference (us) | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['threads']} | {r['batch']} | {r['module_us']:.1f} | "
            f"{r['reference_us']:.1f} | {r['ratio']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=300, help="calls per round at batch 1")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    args = parser.parse_args()

    rows = run(args.rounds, args.calls, not args.no_compile)
    print(markdown(rows))
    target = [r for r in rows if r["setting"] == "eager, tensor obs" and r["batch"] == 1]
    for r in target:
        verdict = "meets" if r["ratio"] <= TARGET_RATIO else "MISSES"
        print(f"batch 1, eager, {r['threads']} thread(s): ratio {r['ratio']:.3f} {verdict} the target {TARGET_RATIO}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "torch_forward",
        "module": "DefaultPPORLModule fcnet_hiddens=[64, 64] tanh, obs (4,), Discrete(2)",
        "reference": "torch.nn.Sequential(Linear, Tanh, Linear, Tanh, Linear) under torch.no_grad()",
        "target_ratio_batch1_eager": TARGET_RATIO,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "default_threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "calls_per_round_batch1": args.calls,
        "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
