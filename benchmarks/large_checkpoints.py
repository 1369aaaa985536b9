"""Save and restore of a ~1 GB module: time and extra memory, against torch and safetensors.

The module holds four ``Dense(8192, 7680)`` layers: 251,688,960 float32 parameters
(1.0 GB). Every measurement runs in a fresh process that first builds the module (and
writes the file to read, for a restore), then times one operation while a thread samples
the process's resident memory every 2 ms; "extra memory" is the peak during the
operation minus the resident memory just before it (the module's own 1 GB excluded),
anonymous memory (what the process allocated) apart from mapped file pages (the kernel's
page cache, reclaimable). A restore that held the file's bytes besides the module shows
~1 GB of extra anonymous memory.

- torch, ours: ``save_to_path`` / ``restore_from_path`` of the torch module.
- torch, ``torch.save(state_dict)`` / ``load_state_dict(torch.load(f))`` (also with
  ``torch.load(f, mmap=True)``).
- torch, ``safetensors.torch.save_file`` / ``load_state_dict(load_file(f))``.
- numpy, ours against ``safetensors.numpy.save_file`` / ``load_file`` copied into the
  module with ``set_state``.

Our save fsyncs its files (and the directory after the swap) and checksums them (BLAKE3);
the references do neither (each save reference is also given followed by an ``os.fsync``
of its file: "+ fsync"). Restores read a file the save just wrote (in the page cache).

Run: python benchmarks/large_checkpoints.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HIDDEN, LAYERS = (8192, 7680), 4

PRELUDE = """
import os, sys, threading, time, json
import numpy as np
import rlmodule_core as rlm
from rlmodule_core.backend.scope import skip_initialization

class Big(rlm.RLModule):
    def setup(self):
        for i in range({layers}):
            setattr(self, f"layer{{i}}", self.nn.Dense({n_in}, {n_out}))
    def _forward(self, batch, **kwargs):
        return {{}}

def build(framework):
    import gymnasium as gym
    spec = rlm.RLModuleSpec(module_class=Big, observation_space=gym.spaces.Box(-1, 1, (1,)),
                            action_space=gym.spaces.Discrete(2), framework=framework)
    with skip_initialization():   # random values cost a minute per process and copy no faster
        module = spec.build()
    state = module.get_state()
    module.set_state(state)      # touches every page of the parameters before timing
    del state
    return module

def rss():
    # (anonymous, file-backed) resident bytes: mapped file pages are the kernel cache
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return tuple(int(fields[k].split()[0]) * 1024 for k in ("RssAnon", "RssFile"))

def measure(fn):
    peak, done = [rss()], threading.Event()
    def sample():
        while not done.is_set():
            peak.append(rss()); time.sleep(0.002)
    before = rss(); t = threading.Thread(target=sample, daemon=True); t.start()
    start = time.perf_counter(); fn(); elapsed = time.perf_counter() - start
    done.set(); t.join(); peak.append(rss())
    print(json.dumps({{"s": elapsed, "extra_mb": (max(a for a, _ in peak) - before[0]) / 1e6,
                      "extra_file_mb": (max(f for _, f in peak) - before[1]) / 1e6}}))
"""

CASES = {
    ("torch", "ours", "save"): "m = build('torch'); measure(lambda: m.save_to_path(P))",
    ("torch", "ours", "restore"): "m = build('torch'); m.save_to_path(P); measure(lambda: m.restore_from_path(P))",
    ("torch", "torch.save / torch.load", "save"): (
        "import torch; m = build('torch'); measure(lambda: torch.save(m.state_dict(), P))"),
    ("torch", "torch.save + fsync", "save"): (
        "import torch; m = build('torch')\n"
        "def save():\n    with open(P, 'wb') as f:\n        torch.save(m.state_dict(), f); f.flush(); os.fsync(f.fileno())\n"
        "measure(save)"),
    ("torch", "torch.save / torch.load", "restore"): (
        "import torch; m = build('torch'); torch.save(m.state_dict(), P)\n"
        "measure(lambda: m.load_state_dict(torch.load(P)))"),
    ("torch", "torch.load(mmap=True)", "restore"): (
        "import torch; m = build('torch'); torch.save(m.state_dict(), P)\n"
        "measure(lambda: m.load_state_dict(torch.load(P, mmap=True)))"),
    ("torch", "safetensors.torch", "save"): (
        "import torch; from safetensors.torch import save_file; m = build('torch')\n"
        "measure(lambda: save_file({k: v.contiguous() for k, v in m.state_dict().items()}, P))"),
    ("torch", "safetensors.torch + fsync", "save"): (
        "import torch; from safetensors.torch import save_file; m = build('torch')\n"
        "def save():\n    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, P)\n"
        "    fd = os.open(P, os.O_RDONLY); os.fsync(fd); os.close(fd)\n"
        "measure(save)"),
    ("torch", "safetensors.torch", "restore"): (
        "import torch; from safetensors.torch import save_file, load_file; m = build('torch')\n"
        "save_file({k: v.contiguous() for k, v in m.state_dict().items()}, P)\n"
        "measure(lambda: m.load_state_dict(load_file(P)))"),
    ("numpy", "ours", "save"): "m = build('numpy'); measure(lambda: m.save_to_path(P))",
    ("numpy", "ours", "restore"): "m = build('numpy'); m.save_to_path(P); measure(lambda: m.restore_from_path(P))",
    ("numpy", "safetensors.numpy", "save"): (
        "from safetensors.numpy import save_file; m = build('numpy')\n"
        "measure(lambda: save_file(m.get_state(), P))"),
    ("numpy", "safetensors.numpy + fsync", "save"): (
        "from safetensors.numpy import save_file; m = build('numpy')\n"
        "def save():\n    save_file(m.get_state(), P)\n"
        "    fd = os.open(P, os.O_RDONLY); os.fsync(fd); os.close(fd)\n"
        "measure(save)"),
    ("numpy", "safetensors.numpy", "restore"): (
        "from safetensors.numpy import save_file, load_file; m = build('numpy'); save_file(m.get_state(), P)\n"
        "measure(lambda: m.set_state(load_file(P)))"),
}


def run_case(code: str, tmp: Path) -> dict:
    script = PRELUDE.format(n_in=HIDDEN[0], n_out=HIDDEN[1], layers=LAYERS)
    script += f"P = {str(tmp / 'ckpt')!r}\n" + code + "\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    results: dict[tuple[str, str, str], list[dict]] = {case: [] for case in CASES}
    for r in range(args.rounds):
        for case, code in CASES.items():
            with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
                results[case].append(run_case(code, Path(tmp)))
            print(f"round {r + 1} {case}: {results[case][-1]}", file=sys.stderr)
    print(f"| backend | what | operation | time (s) | extra anonymous memory (MB) | extra mapped file (MB) |"
          f"   (median of {args.rounds})")
    print("|---|---|---|---|---|---|")
    for (backend, what, op), runs in results.items():
        print(f"| {backend} | {what} | {op} | {statistics.median(x['s'] for x in runs):.2f} | "
              f"{statistics.median(x['extra_mb'] for x in runs):,.0f} | "
              f"{statistics.median(x['extra_file_mb'] for x in runs):,.0f} |")


if __name__ == "__main__":
    main()
