"""Forward-pass overhead of the NumPy backend against the same network in plain NumPy.

The default PPO module ([64, 64] tanh MLP, CartPole spaces, shared encoder) against
``np.tanh(x @ W + b)`` per hidden layer and ``h @ W + b`` for the policy head, with the
module's weights. ``forward_train`` returns the logits and the embeddings; its reference
returns both too. Target at batch 1: at most 1.15x (NumPy is an eager path).

Usage:
    python benchmarks/numpy_forward.py [--rounds 20] [--calls 200]

Prints a markdown table and writes JSON to benchmarks/results/numpy_forward.json.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _common import SMALL_HIDDEN, mlp_weights, small_ppo
from _forward import ForwardCase, assert_close, markdown, run_forward

from rlmodule_core import Columns

RESULTS = Path(__file__).parent / "results" / "numpy_forward.json"


def reference_functions(module: Any) -> tuple[Callable, Callable]:
    """``(encode, head)``: the module's policy network in plain NumPy, same weights."""
    weights = mlp_weights(module.get_state(), len(SMALL_HIDDEN))
    hidden, (w_pi, b_pi) = weights[:-1], weights[-1]

    def encode(x: np.ndarray) -> np.ndarray:
        for w, b in hidden:
            x = np.tanh(x @ w + b)
        return x

    return encode, (lambda h: h @ w_pi + b_pi)


def _chain(head: Callable, encode: Callable, obs: np.ndarray) -> np.ndarray:
    return head(encode(obs))


class Cases:
    """Builds the module and reference once; ``__call__(obs)`` gives the cases."""

    def __init__(self) -> None:
        self.module = small_ppo("numpy")
        self.encode, self.head = reference_functions(self.module)

    def __call__(self, obs: np.ndarray) -> list[ForwardCase]:
        batch = {Columns.OBS: obs}
        encode, head = self.encode, self.head

        def train_reference() -> tuple[np.ndarray, np.ndarray]:
            h = encode(obs)
            return h, head(h)

        cases = []
        for phase in ("forward_inference", "forward_exploration", "forward_train"):
            train = phase == "forward_train"
            method = getattr(self.module, phase)
            call = partial(method, batch)
            reference = train_reference if train else partial(_chain, head, encode, obs)

            def check(call=call, reference=reference, train=train, phase=phase) -> None:
                out, want = call(), reference()
                assert_close(out[Columns.ACTION_DIST_INPUTS], want[1] if train else want, phase)
                if train:
                    assert_close(out[Columns.EMBEDDINGS], want[0], phase)

            cases.append(ForwardCase(
                "eager", phase, False, call, reference, "plain NumPy (np.tanh(x @ W + b))",
                check=check,
            ))
        return cases


def run(rounds: int, calls: int, batches=(1, 256)) -> list:
    """The forward rows (the runner's entry point)."""
    return run_forward("numpy", Cases(), rounds=rounds, calls=calls, batches=batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200, help="calls per round at batch 1")
    args = parser.parse_args()

    rows = run(args.rounds, args.calls)
    print(markdown(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "numpy_forward", "numpy": np.__version__,
        "python": platform.python_version(), "rounds": args.rounds,
        "calls_per_round_batch1": args.calls, "rows": [r.as_dict() for r in rows],
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
