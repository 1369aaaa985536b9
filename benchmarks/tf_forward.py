"""Forward-pass overhead of the TF backend against plain Keras layers, in one process.

The default PPO module ([64, 64] tanh MLP, CartPole spaces, shared encoder) against the
same network (same weights) as plain Keras layers: an encoder
``keras.Sequential([Dense(64, tanh), Dense(64, tanh)])`` and a ``Dense(2)`` policy head.

- ``tf.function``: ``rlm.get_backend("tf").compile(module)`` (all three phases through
  ``tf.function``; inference and exploration already are by default) against
  ``tf.function(lambda x: head(encoder(x)))`` called with a tensor. Context row: the
  reference called through its concrete function (``get_concrete_function`` once, then a
  direct call), TF's fastest calling path, which the module uses internally.
- ``tf.function, numpy obs``: NumPy observations: the module converts them, the
  reference gets ``tf.convert_to_tensor(obs)``.
- ``eager``: both under ``tf.config.run_functions_eagerly(True)``: the module's forward
  runs eagerly, the reference is ``head(encoder(x))``.

``forward_train`` returns the logits and the embeddings (training=True); its reference
returns both too. Targets at batch 1: at most 1.10x under tf.function, 1.15x eager.

Usage:
    python benchmarks/tf_forward.py [--rounds 20] [--calls 200]

Prints a markdown table and writes JSON to benchmarks/results/tf_forward.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _common import SMALL_HIDDEN, SMALL_OBS, mlp_weights, small_ppo
from _forward import ForwardCase, assert_close, markdown, run_forward
from rlmodule_tf import keras, tf  # first: chooses Keras's TensorFlow backend

import rlmodule_core as rlm
from rlmodule_core import Columns

RESULTS = Path(__file__).parent / "results" / "tf_forward.json"
PHASES = ("forward_inference", "forward_exploration", "forward_train")


def reference_network(module: Any) -> tuple[keras.Sequential, keras.layers.Dense]:
    """The module's policy network as plain Keras layers (encoder, head), same weights."""
    weights = mlp_weights(module.get_state(), len(SMALL_HIDDEN))
    encoder = keras.Sequential(
        [keras.Input((SMALL_OBS,))]
        + [keras.layers.Dense(k.shape[1], activation="tanh") for k, _ in weights[:-1]]
    )
    encoder.set_weights([a for pair in weights[:-1] for a in pair])
    head = keras.layers.Dense(weights[-1][0].shape[1])
    head.build((None, weights[-1][0].shape[0]))
    head.set_weights(list(weights[-1]))
    return encoder, head


@contextlib.contextmanager
def eagerly() -> Iterator[None]:
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(False)


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
        self.module = rlm.get_backend("tf").compile(small_ppo("tf"))
        encoder, head = reference_network(self.module)
        def infer(x):
            return head(encoder(x, training=False), training=False)

        self.infer = infer

        def train(x):
            h = encoder(x, training=True)
            return h, head(h, training=True)

        self.train = train
        self.functions = {
            "infer": tf.function(self.infer, reduce_retracing=True),
            "train": tf.function(train, reduce_retracing=True),
        }
        spec = tf.TensorSpec((None, SMALL_OBS), tf.float32)
        self.concrete = {k: f.get_concrete_function(spec) for k, f in self.functions.items()}

    def __call__(self, obs: np.ndarray) -> list[ForwardCase]:
        x = tf.convert_to_tensor(obs)
        batch = {Columns.OBS: x}
        cases = []
        for phase in PHASES:
            kind = "train" if phase == "forward_train" else "infer"
            method = getattr(self.module, phase)
            call = partial(method, batch)
            function, concrete = self.functions[kind], self.concrete[kind]
            reference = partial(function, x)
            cases.append(ForwardCase(
                "tf.function", phase, True, call, reference, "tf.function(Keras layers)(tensor)",
                check=_check(call, reference, kind == "train", f"tf {phase}"),
                context={"concrete function": partial(concrete, x)},
            ))
        numpy_batch = {Columns.OBS: obs}
        call = partial(self.module.forward_inference, numpy_batch)
        function = self.functions["infer"]
        def reference() -> Any:
            return function(tf.convert_to_tensor(obs))

        cases.append(ForwardCase(
            "tf.function, numpy obs", "forward_inference", True, call, reference,
            "tf.function(Keras layers)(tf.convert_to_tensor(obs))",
            check=_check(call, reference, False, "tf numpy obs"),
        ))
        for phase in PHASES:
            train = phase == "forward_train"
            method = getattr(self.module, phase)
            call = partial(method, batch)
            reference = partial(self.train if train else self.infer, x)
            cases.append(ForwardCase(
                "eager", phase, False, call, reference, "Keras layers called eagerly",
                check=_check(call, reference, train, f"tf eager {phase}"), around=eagerly,
            ))
        return cases


def _calls(case: ForwardCase, batch: int, calls: int) -> int:
    # Eager Keras costs milliseconds a call: fewer calls keep rounds short.
    n = calls if batch == 1 else max(calls // 4, 5)
    return n if case.compiled else max(n // 20, 3)


def run(rounds: int, calls: int, batches=(1, 256)) -> list:
    """The forward rows (the runner's entry point)."""
    return run_forward(
        "tf", Cases(), rounds=rounds, calls=calls, batches=batches,
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
        "benchmark": "tf_forward", "tensorflow": tf.__version__, "keras": keras.__version__,
        "python": platform.python_version(), "rounds": args.rounds,
        "calls_per_round_batch1": args.calls, "rows": [r.as_dict() for r in rows],
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
