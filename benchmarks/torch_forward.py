"""Forward-pass overhead of the torch backend against a plain torch network, in one process.

The default PPO module ([64, 64] tanh MLP, CartPole spaces, shared encoder) against the
same network (same weights) as plain ``torch.nn`` layers, an encoder
``Sequential(Linear, Tanh, Linear, Tanh)`` and a ``Linear`` policy head:

- ``forward_inference`` / ``forward_exploration``: the module computes exactly
  ``head(encoder(x))`` (the value head is not evaluated); the reference is that call
  under ``torch.no_grad()`` in eval mode.
- ``forward_train``: the module returns the logits and the encoder's embeddings with
  gradients; the reference is ``h = encoder(x); head(h)`` in train mode with gradients.
- variants: ``eager`` (tensor observations), ``eager, numpy obs`` (NumPy observations as
  from an environment: the module converts them, the reference calls
  ``torch.from_numpy``), and ``torch.compile`` (``rlm.get_backend("torch").compile(module)``
  against ``torch.compile`` of the reference functions).

Targets at batch 1: at most 1.15x eager, 1.10x compiled.

Usage:
    python benchmarks/torch_forward.py [--rounds 20] [--calls 200] [--no-compile] [--threads 1]

Prints a markdown table and writes JSON to benchmarks/results/torch_forward.json.
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
import torch
from _common import SMALL_HIDDEN, mlp_weights, small_ppo
from _forward import ForwardCase, assert_close, markdown, run_forward

import rlmodule_core as rlm
from rlmodule_core import Columns

RESULTS = Path(__file__).parent / "results" / "torch_forward.json"


def _linear(kernel: np.ndarray, bias: np.ndarray) -> torch.nn.Linear:
    layer = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(kernel.T))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


def reference_network(module: Any) -> tuple[torch.nn.Sequential, torch.nn.Linear]:
    """The module's policy network as plain torch layers (encoder, head), same weights."""
    weights = mlp_weights(module.get_state(), len(SMALL_HIDDEN))
    layers: list[torch.nn.Module] = []
    for kernel, bias in weights[:-1]:
        layers += [_linear(kernel, bias), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers), _linear(*weights[-1])


def _no_grad(fn: Callable[[], Any]) -> Callable[[], Any]:
    def call() -> Any:
        with torch.no_grad():
            return fn()
    return call


def _checks(module_call: Callable, reference: Callable, train: bool, what: str) -> Callable[[], None]:
    def check() -> None:
        out, want = module_call(), reference()
        logits = want[1] if train else want
        assert_close(out[Columns.ACTION_DIST_INPUTS].detach(), logits.detach(), what)
        if train:
            assert_close(out[Columns.EMBEDDINGS].detach(), want[0].detach(), what)
    return check


def _phase_cases(variant: str, compiled: bool, module: Any, batch: dict, infer: Callable,
                 train: Callable, ref_name: str) -> list[ForwardCase]:
    cases = []
    for phase in ("forward_inference", "forward_exploration", "forward_train"):
        method = getattr(module, phase)
        call = partial(method, batch)
        reference = train if phase == "forward_train" else infer
        cases.append(ForwardCase(
            variant, phase, compiled, call, reference, ref_name,
            check=_checks(call, reference, phase == "forward_train", f"torch {variant} {phase}"),
        ))
    return cases


class Cases:
    """Builds the modules and reference networks once; ``__call__(obs)`` gives the cases."""

    def __init__(self, compile_too: bool = True) -> None:
        self.module = small_ppo("torch")
        encoder, head = reference_network(self.module)
        # Separate reference objects per mode, so no call ever switches train/eval.
        self.eval_net = torch.nn.Sequential(encoder, head).eval()
        self.train_encoder, self.train_head = reference_network(self.module)
        self.compiled = None
        if compile_too:
            self.compiled = rlm.get_backend("torch").compile(small_ppo("torch"))
            self.compiled_infer = torch.compile(torch.nn.Sequential(*reference_network(self.module)).eval())
            enc, head = reference_network(self.module)
            self.compiled_train = torch.compile(lambda x: (h := enc(x), head(h)))

    def _train_ref(self, x: torch.Tensor) -> Callable[[], Any]:
        enc, head = self.train_encoder, self.train_head
        def call() -> Any:
            h = enc(x)
            return h, head(h)
        return call

    def __call__(self, obs: np.ndarray) -> list[ForwardCase]:
        x = torch.from_numpy(obs)
        batch = {Columns.OBS: x}
        net = self.eval_net
        cases = _phase_cases(
            "eager", False, self.module, batch, _no_grad(lambda: net(x)), self._train_ref(x),
            "nn.Sequential under torch.no_grad() (train: with gradients)",
        )
        numpy_batch = {Columns.OBS: obs}
        numpy_call = partial(self.module.forward_inference, numpy_batch)
        numpy_ref = _no_grad(lambda: net(torch.from_numpy(obs)))
        cases.append(ForwardCase(
            "eager, numpy obs", "forward_inference", False, numpy_call, numpy_ref,
            "torch.from_numpy + nn.Sequential under torch.no_grad()",
            check=_checks(numpy_call, numpy_ref, False, "torch numpy obs"),
        ))
        if self.compiled is not None:
            infer, train = self.compiled_infer, self.compiled_train
            cases += _phase_cases(
                "torch.compile", True, self.compiled, batch, _no_grad(lambda: infer(x)),
                partial(train, x), "torch.compile(nn.Sequential) (train: with gradients)",
            )
        return cases


def run(rounds: int, calls: int, compile_too: bool = True, batches=(1, 256)) -> list:
    """The forward rows (the runner's entry point)."""
    return run_forward("torch", Cases(compile_too), rounds=rounds, calls=calls, batches=batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200, help="calls per round at batch 1")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = run(args.rounds, args.calls, not args.no_compile)
    print(markdown(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "torch_forward", "torch": torch.__version__,
        "python": platform.python_version(), "threads": args.threads,
        "rounds": args.rounds, "calls_per_round_batch1": args.calls,
        "rows": [r.as_dict() for r in rows],
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
