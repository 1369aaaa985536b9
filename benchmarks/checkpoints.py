"""Checkpoint save/restore of a ~10M-parameter module against the framework's own.

The module of the state benchmark (``DefaultPPORLModule``, ``fcnet_hiddens=[2048, 2048,
2048]``, ``Box(1024,)`` observations, ``Discrete(2)``; full learner state with the value
head). The reference is the same network written directly in the framework, with the
same weights, saved and loaded the framework's way:

- torch: ``torch.save(net.state_dict(), f)``; ``net.load_state_dict(torch.load(f))``
- tf: Keras ``model.save_weights(f)``; ``model.load_weights(f)``
- jax: ``flax.serialization.to_bytes`` of the NNX state written to a file; read back
  with ``from_bytes`` and ``nnx.update``
- numpy: ``np.savez``; ``np.load`` (copied into the existing arrays when restoring)

Rows: ``save_to_path`` (atomic directory, JSON metadata, safetensors, a BLAKE3 checksum
of every file, fsync) against the framework's save (none of the references fsyncs; for
context, also against the framework's save followed by an fsync of its file, and against
a save to a new file, fsynced, renamed over the old one and the directory fsynced: the
same atomicity and durability as ours); ``from_checkpoint`` (build the module, then load) against building the plain
network and loading; ``restore_from_path`` (into an existing module) against loading into
an existing network (for context, also against the framework's load plus a BLAKE3 of its
file: the same integrity check). Target (issue 18): ratio <= 0.8 to the framework's own.

Usage:
    python benchmarks/checkpoints.py --backend torch [--rounds 7]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import blake3
import numpy as np
from _common import LARGE_HIDDEN, Row, Target, interleaved, large_ppo, parameter_count

TARGET = Target("ratio_max", 0.8)


def _weights(state: dict[str, np.ndarray]) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """``{"encoder": [(kernel, bias), ...], "pi": [...], "vf": [...]}`` from a module state."""
    layers = lambda prefix, n: [(state[f"{prefix}.{i}.kernel"], state[f"{prefix}.{i}.bias"]) for i in range(n)]  # noqa: E731
    return {"encoder": layers("encoder.mlp.layers", len(LARGE_HIDDEN)),
            "pi": layers("pi.layers", 1), "vf": layers("vf.layers", 1)}


class TorchReference:
    name = "torch.save(state_dict) / torch.load + load_state_dict"
    suffix = ".pt"

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        import torch

        self.torch = torch
        self.net = self.build()
        with torch.no_grad():
            for part, pairs in _weights(state).items():
                linears = [m for m in getattr(self.net, part) if isinstance(m, torch.nn.Linear)]
                for layer, (kernel, bias) in zip(linears, pairs):
                    layer.weight.copy_(torch.from_numpy(kernel.T))
                    layer.bias.copy_(torch.from_numpy(bias))

    def build(self) -> Any:
        nn = self.torch.nn
        sizes = [1024, *LARGE_HIDDEN]
        encoder = []
        for a, b in zip(sizes, sizes[1:]):
            encoder += [nn.Linear(a, b), nn.Tanh()]
        return nn.ModuleDict({
            "encoder": nn.Sequential(*encoder),
            "pi": nn.Sequential(nn.Linear(sizes[-1], 2)),
            "vf": nn.Sequential(nn.Linear(sizes[-1], 1)),
        })

    def save(self, path: Path) -> None:
        self.torch.save(self.net.state_dict(), path)

    def load_new(self, path: Path) -> Any:
        net = self.build()
        net.load_state_dict(self.torch.load(path))
        return net

    def load_into(self, path: Path) -> None:
        self.net.load_state_dict(self.torch.load(path))


class KerasReference:
    name = "Keras save_weights / load_weights (.weights.h5)"
    suffix = ".weights.h5"

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        from rlmodule_tf import keras

        self.keras = keras
        self.net = self.build()
        weights = _weights(state)
        self.net.set_weights([a for part in ("encoder", "pi", "vf") for pair in weights[part] for a in pair])

    def build(self) -> Any:
        keras = self.keras
        inputs = keras.Input((1024,))
        h = inputs
        for size in LARGE_HIDDEN:
            h = keras.layers.Dense(size, activation="tanh")(h)
        return keras.Model(inputs, [keras.layers.Dense(2)(h), keras.layers.Dense(1)(h)])

    def save(self, path: Path) -> None:
        self.net.save_weights(path)

    def load_new(self, path: Path) -> Any:
        net = self.build()
        net.load_weights(path)
        return net

    def load_into(self, path: Path) -> None:
        self.net.load_weights(path)


class FlaxReference:
    name = "flax.serialization.to_bytes/from_bytes of the NNX state, to a file"
    suffix = ".msgpack"

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        import flax.serialization
        import jax.numpy as jnp
        from flax import nnx

        self.nnx, self.serialization, self.jnp = nnx, flax.serialization, jnp
        self.net = self.build()
        weights = _weights(state)
        for part in ("encoder", "pi", "vf"):
            for layer, (kernel, bias) in zip(getattr(self.net, part), weights[part]):
                layer.kernel.set_value(jnp.asarray(kernel))
                layer.bias.set_value(jnp.asarray(bias))

    def build(self) -> Any:
        nnx = self.nnx
        sizes = [1024, *LARGE_HIDDEN]
        rngs = nnx.Rngs(0)

        class Net(nnx.Module):
            def __init__(self) -> None:
                self.encoder = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:])])
                self.pi = nnx.List([nnx.Linear(sizes[-1], 2, rngs=rngs)])
                self.vf = nnx.List([nnx.Linear(sizes[-1], 1, rngs=rngs)])

        return Net()

    def save(self, path: Path) -> None:
        pure = self.nnx.to_pure_dict(self.nnx.state(self.net))
        path.write_bytes(self.serialization.to_bytes(pure))

    def _load(self, net: Any, path: Path) -> None:
        state = self.nnx.state(net)
        pure = self.serialization.from_bytes(self.nnx.to_pure_dict(state), path.read_bytes())
        self.nnx.replace_by_pure_dict(state, pure)
        self.nnx.update(net, state)

    def load_new(self, path: Path) -> Any:
        net = self.build()
        self._load(net, path)
        return net

    def load_into(self, path: Path) -> None:
        self._load(self.net, path)


class NumpyReference:
    name = "np.savez / np.load"
    suffix = ".npz"

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.arrays = {k: v.copy() for k, v in state.items()}

    def save(self, path: Path) -> None:
        np.savez(path, **self.arrays)

    def load_new(self, path: Path) -> dict[str, np.ndarray]:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    def load_into(self, path: Path) -> None:
        with np.load(path) as data:
            for key in data.files:
                np.copyto(self.arrays[key], data[key])


REFERENCES = {"torch": TorchReference, "tf": KerasReference, "jax": FlaxReference, "numpy": NumpyReference}


def _fsync(path: Path) -> None:
    """Flushes a file to disk, as save_to_path does for every file it writes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hash_ms(path: Path) -> str:
    """How long hashing the state file takes here: the checksum's share of our save/restore."""
    import time

    data = path.read_bytes()
    hashes = {
        "BLAKE3 (all cores)": lambda: blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest(),
        "BLAKE3 (one core)": lambda: blake3.blake3(data).digest(),
        "sha256 (format 1)": lambda: hashlib.sha256(data).digest(),
    }
    times = []
    for name, digest in hashes.items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            digest()
            best = min(best, time.perf_counter() - start)
        times.append(f"{name} {best * 1e3:.1f} ms")
    return ", ".join(times)


def _verified_load(reference: Any, path: Path, load: Any) -> Any:
    """The framework's load plus a BLAKE3 of its file: as verified as ours."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    hasher.digest()
    return load(path)


def run(backend: str, rounds: int) -> list[Row]:
    """The checkpoint rows for one backend (the runner's entry point)."""
    from rlmodule_core import RLModule

    module = large_ppo(backend)
    state = module.get_state()
    reference = REFERENCES[backend](state)
    root = Path(tempfile.mkdtemp(prefix="rlmodule-bench-"))
    ours, theirs = root / "ours", root / f"reference{reference.suffix}"
    try:
        module.save_to_path(ours)
        reference.save(theirs)
        state_file = next(ours.glob("*.safetensors"))
        note = (f"{parameter_count(state):,} parameters; files {state_file.stat().st_size / 1e6:.1f} MB "
                f"(ours) / {theirs.stat().st_size / 1e6:.1f} MB; hash of the state file: "
                f"{_hash_ms(state_file)}")
        def durable_save() -> None:
            reference.save(theirs)
            _fsync(theirs)

        def atomic_save() -> None:
            # What save_to_path guarantees, done the plain way: a new file, its data
            # fsynced, renamed over the old one, and the rename made durable.
            fresh = theirs.with_name(f".tmp{reference.suffix}")
            reference.save(fresh)
            _fsync(fresh)
            os.replace(fresh, theirs)
            _fsync(theirs.parent)

        pairs = {
            "save_to_path": (lambda: module.save_to_path(ours), lambda: reference.save(theirs),
                             {"framework save + fsync": durable_save,
                              "framework save to a new file + fsync + rename + directory fsync": atomic_save}),
            "from_checkpoint": (lambda: RLModule.from_checkpoint(ours), lambda: reference.load_new(theirs), {}),
            "restore_from_path": (lambda: module.restore_from_path(ours), lambda: reference.load_into(theirs),
                                  {"framework load + BLAKE3 of the file":
                                   lambda: _verified_load(reference, theirs, reference.load_into)}),
        }
        rows = []
        for name, (mine, framework, context) in pairs.items():
            timing = interleaved({"module": mine, "reference": framework, **context}, rounds=rounds, warmup=1)
            rows.append(Row(
                group="checkpoint", backend=backend, name=name, ours=timing.median("module") * 1e3,
                reference=timing.median("reference") * 1e3, unit="ms", reference_name=reference.name,
                ratio=timing.ratio("module", "reference"), note=note,
            ).judge(TARGET))
            for label in context:
                fsync = "fsync" in label
                rows.append(Row(
                    group="checkpoint", backend=backend, name=f"{name} vs {label}",
                    ours=timing.median("module") * 1e3, reference=timing.median(label) * 1e3, unit="ms",
                    reference_name=f"{reference.name}, {label.removeprefix('framework ')}",
                    ratio=timing.ratio("module", label),
                    note="context: as durable as ours (fsync)" if fsync else "context: as verified as ours (BLAKE3)",
                ))
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rows = run(args.backend, args.rounds)
    for row in rows:
        verdict = "" if row.target is None else ("met" if row.met else "MISSED")
        print(f"{row.name}: {row.ours:.1f} ms vs {row.reference:.1f} ms ({row.reference_name}): "
              f"{row.ratio:.2f}x {verdict}")
    print(rows[0].note)


if __name__ == "__main__":
    main()
