"""ONNX Runtime forward latency of an exported policy against torch eager and the NumPy backend.

The default PPO module ([64, 64] tanh MLP, CartPole spaces) is built on torch, exported
with ``rlm.export_onnx`` and restored on the NumPy backend from the same weights. Each
call takes a NumPy observation batch and returns the action-distribution inputs, as a
deployed policy would: ``session.run`` on ONNX Runtime (one intra-op thread),
``forward_inference`` on torch (eager, one thread) and on the NumPy backend. The three
are called interleaved, round by round; outputs are checked equal (1e-5) first.
Reported: median microseconds per call and the paired ratios ONNX Runtime / torch and
ONNX Runtime / NumPy at batch 1 and 256. No target: this informs the choice of runtime.

Usage:
    python benchmarks/onnx_forward.py [--rounds 20] [--calls 200]

Prints a markdown table and writes JSON to benchmarks/results/onnx_forward.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import numpy as np
from _common import interleaved, observations, small_ppo

import rlmodule_core as rlm
from rlmodule_core import Columns

RESULTS = Path(__file__).parent / "results" / "onnx_forward.json"


def measure(rounds: int, calls: int) -> list[dict]:
    import onnxruntime as ort
    import torch

    torch.set_num_threads(1)
    module = small_ppo("torch")
    work = Path(tempfile.mkdtemp())
    path = rlm.export_onnx(module, work / "policy.onnx")
    reference = rlm.RLModule.from_checkpoint(module.save_to_path(work / "ckpt"), framework="numpy", inference_only=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rows = []
    for batch in (1, 256):
        obs = observations(batch)
        fns = {
            "onnxruntime": lambda obs=obs: session.run(None, {"obs": obs})[0],
            "torch": lambda obs=obs: module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS],
            "numpy": lambda obs=obs: reference.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS],
        }
        want = np.asarray(fns["numpy"]())
        for name, fn in fns.items():
            got = fn()
            got = got.detach().numpy() if hasattr(got, "detach") else np.asarray(got)
            if not np.allclose(got, want, atol=1e-5):
                raise AssertionError(f"{name} disagrees with the NumPy backend at batch {batch}")
        n = calls if batch == 1 else max(calls // 4, 1)
        timing = interleaved(fns, rounds=rounds, calls=n)
        rows.append({
            "batch": batch,
            "us": {name: timing.median(name) * 1e6 for name in fns},
            "onnxruntime_over_torch": timing.ratio("onnxruntime", "torch"),
            "onnxruntime_over_numpy": timing.ratio("onnxruntime", "numpy"),
        })
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| batch | ONNX Runtime (us) | torch eager (us) | NumPy backend (us) | ORT / torch | ORT / NumPy |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        us = r["us"]
        lines.append(
            f"| {r['batch']} | {us['onnxruntime']:.1f} | {us['torch']:.1f} | {us['numpy']:.1f} | "
            f"{r['onnxruntime_over_torch']:.2f}x | {r['onnxruntime_over_numpy']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200, help="calls per round at batch 1 (a quarter at 256)")
    args = parser.parse_args()
    import onnxruntime
    import torch

    rows = measure(args.rounds, args.calls)
    print(markdown(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "onnx_forward", "onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
        "numpy": np.__version__, "python": platform.python_version(), "rounds": args.rounds,
        "calls_per_round_batch1": args.calls, "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
