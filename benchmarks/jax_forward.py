"""Forward-pass overhead of the JAX backend against plain Flax NNX, in one process.

The default PPO module ([64, 64] tanh MLP, CartPole spaces, shared encoder) against the
same network (same weights) written with plain ``nnx.Linear`` layers:

- ``jit (default)``: the module's forwards (JAX modules are compiled by default) against
  the reference network split once, ``f = jax.jit(lambda state, x:
  nnx.merge(graphdef, state)(x))``, called as ``f(state, x)`` (the fast way to call NNX
  compiled). Context rows, timed in the same rounds: ``floor`` (the same pure function
  of the state's arrays, read once before timing: the lowest a jitted call can cost) and
  ``nnx.jit`` (the reference through ``nnx.jit``, which walks the graph on every call).
- ``eager (jit=False)``: ``backend.compile(module, jit=False)`` against calling the NNX
  network eagerly.

``forward_train`` returns the logits and the encoder's embeddings; its reference returns
both too. Inputs are NumPy observations (as from an environment); every call blocks
until its outputs are ready. Targets at batch 1: at most 1.10x jitted, 1.15x eager.

Usage:
    python benchmarks/jax_forward.py [--rounds 20] [--calls 200]

Prints a markdown table and writes JSON to benchmarks/results/jax_forward.json.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _common import SMALL_HIDDEN, mlp_weights, small_ppo
from _forward import ForwardCase, assert_close, markdown, run_forward
from flax import nnx

import rlmodule_core as rlm
from rlmodule_core import Columns

RESULTS = Path(__file__).parent / "results" / "jax_forward.json"


class Policy(nnx.Module):
    """The policy network in plain NNX: tanh encoder layers and a linear head."""

    def __init__(self, weights: list[tuple[np.ndarray, np.ndarray]]) -> None:
        def linear(kernel: np.ndarray, bias: np.ndarray) -> nnx.Linear:
            layer = nnx.Linear(kernel.shape[0], kernel.shape[1], rngs=nnx.Rngs(0))
            layer.kernel.set_value(jnp.asarray(kernel))
            layer.bias.set_value(jnp.asarray(bias))
            return layer

        self.l0 = linear(*weights[0])
        self.l1 = linear(*weights[1])
        self.head = linear(*weights[2])

    def encode(self, x: jax.Array) -> jax.Array:
        return jnp.tanh(self.l1(jnp.tanh(self.l0(x))))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.encode(x))

    def train_outputs(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = self.encode(x)
        return h, self.head(h)


def _blocking(fn: Callable[[], Any]) -> Callable[[], Any]:
    return lambda: jax.block_until_ready(fn())


def _check(module_call: Callable, reference: Callable, train: bool, what: str) -> Callable[[], None]:
    def check() -> None:
        out, want = module_call(), reference()
        assert_close(out[Columns.ACTION_DIST_INPUTS], want[1] if train else want, what)
        if train:
            assert_close(out[Columns.EMBEDDINGS], want[0], what)
    return check


class Cases:
    """Builds the modules and reference functions once; ``__call__(obs)`` gives the cases."""

    def __init__(self) -> None:
        backend = rlm.get_backend("jax")
        self.compiled = backend.compile(small_ppo("jax"))
        self.eager = backend.compile(small_ppo("jax"), jit=False)
        self.policy = Policy(mlp_weights(self.compiled.get_state(), len(SMALL_HIDDEN)))
        graphdef, state = nnx.split(self.policy)
        leaves, treedef = jax.tree.flatten(state)
        self.state, self.leaves = state, leaves

        def pure(method: str):
            @jax.jit
            def f(state, x):
                return getattr(nnx.merge(graphdef, state), method)(x)
            return f

        def floor(method: str):
            @jax.jit
            def f(arrays, x):
                return getattr(nnx.merge(graphdef, jax.tree.unflatten(treedef, arrays)), method)(x)
            return f

        self.pure = {"infer": pure("__call__"), "train": pure("train_outputs")}
        self.floor = {"infer": floor("__call__"), "train": floor("train_outputs")}
        self.nnx_jit = {
            "infer": nnx.jit(lambda net, x: net(x)),
            "train": nnx.jit(lambda net, x: net.train_outputs(x)),
        }

    def __call__(self, obs: np.ndarray) -> list[ForwardCase]:
        batch = {Columns.OBS: obs}
        cases = []
        for phase in ("forward_inference", "forward_exploration", "forward_train"):
            kind = "train" if phase == "forward_train" else "infer"
            pure, floor, via_nnx = self.pure[kind], self.floor[kind], self.nnx_jit[kind]
            method = getattr(self.compiled, phase)
            call = _blocking(partial(method, batch))
            reference = _blocking(partial(pure, self.state, obs))
            cases.append(ForwardCase(
                "jit (default)", phase, True, call, reference,
                "jax.jit(f)(state, x), NNX split once",
                check=_check(call, reference, kind == "train", f"jax jit {phase}"),
                context={
                    "floor: jit(f)(arrays, x)": _blocking(partial(floor, self.leaves, obs)),
                    "nnx.jit": _blocking(partial(via_nnx, self.policy, obs)),
                },
            ))
        for phase in ("forward_inference", "forward_exploration", "forward_train"):
            train = phase == "forward_train"
            method = getattr(self.eager, phase)
            call = _blocking(partial(method, batch))
            x = jnp.asarray(obs)
            reference = _blocking(partial(self.policy.train_outputs if train else self.policy, x))
            cases.append(ForwardCase(
                "eager (jit=False)", phase, False, call, reference, "NNX network called eagerly",
                check=_check(call, reference, train, f"jax eager {phase}"),
            ))
        return cases


def _calls(case: ForwardCase, batch: int, calls: int) -> int:
    # Eager JAX dispatches op by op (~100 us a call): fewer calls keep rounds short.
    n = calls if batch == 1 else max(calls // 4, 5)
    return n if case.compiled else max(n // 4, 5)


def run(rounds: int, calls: int, batches=(1, 256)) -> list:
    """The forward rows (the runner's entry point)."""
    return run_forward(
        "jax", Cases(), rounds=rounds, calls=calls, batches=batches,
        calls_for=lambda case, batch: _calls(case, batch, calls),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200, help="calls per round at batch 1")
    args = parser.parse_args()

    rows = run(args.rounds, args.calls)
    print(markdown(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "jax_forward", "jax": jax.__version__,
        "flax": __import__("flax").__version__, "python": platform.python_version(),
        "rounds": args.rounds, "calls_per_round_batch1": args.calls,
        "rows": [r.as_dict() for r in rows],
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
