"""The floors under a checkpoint's save and restore on this machine: hash, copy, disk.

Times one buffer of the checkpoint benchmark's state size (42 MB by default): BLAKE3 on
one core and on all cores, sha256 (format version 1), ``memcpy`` (``np.copyto``), writing
a new file and fsyncing it, re-writing an existing file and fsyncing it, reading it from
the page cache, and one ``fsync`` of a directory. Then the BLAKE3 thread crossover: for
inputs from 4 KiB to 64 MiB, one core against all cores (``checkpoint/digest.py`` picks
all cores from ``MULTI_THREAD_BYTES`` on). Median of ``--rounds`` (interleaved).

Usage:
    python benchmarks/checkpoint_floors.py [--mb 42] [--rounds 9]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import blake3
import numpy as np


def _median_s(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _write(path: Path, data: np.ndarray, *, new: bool) -> None:
    if new and path.exists():
        path.unlink()
    with open(path, "wb") as f:
        f.write(memoryview(data))
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def floors(size: int, rounds: int) -> dict[str, float]:
    """Seconds per operation on ``size`` bytes (median of ``rounds``)."""
    data = np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8)
    out = np.empty_like(data)
    root = Path(tempfile.mkdtemp(prefix="rlmodule-floor-"))
    path = root / "state.bin"
    try:
        _write(path, data, new=True)
        buffer = np.empty(size, np.uint8)

        def read() -> None:
            with open(path, "rb") as f:
                f.readinto(memoryview(buffer))

        return _median_s({
            "BLAKE3, one core": lambda: blake3.blake3(data).digest(),
            "BLAKE3, all cores": lambda: blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest(),
            "sha256 (format 1)": lambda: hashlib.sha256(data).digest(),
            "memcpy (np.copyto)": lambda: np.copyto(out, data),
            "write + fsync, new file": lambda: _write(path, data, new=True),
            "write + fsync over the file": lambda: _write(path, data, new=False),
            "read from the page cache": read,
            "fsync of a directory": lambda: _fsync_dir(root),
        }, rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def crossover(rounds: int) -> list[tuple[int, float, float]]:
    """``(bytes, one core s, all cores s)`` for inputs from 4 KiB to 64 MiB."""
    rows = []
    for shift in range(12, 27, 2):
        size = 1 << shift
        data = np.random.default_rng(shift).integers(0, 255, size, dtype=np.uint8)
        repeat = max(1, (1 << 24) // size)

        def many(threads: int, data: np.ndarray = data, repeat: int = repeat) -> None:
            for _ in range(repeat):
                blake3.blake3(data, max_threads=threads).digest()

        times = _median_s({"one": lambda: many(1), "all": lambda: many(blake3.blake3.AUTO)}, rounds)
        rows.append((size, times["one"] / repeat, times["all"] / repeat))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=42.0)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    size = int(args.mb * 1e6)
    print(f"load average {os.getloadavg()[0]:.1f}; {size / 1e6:.1f} MB buffer, median of {args.rounds}")
    for name, seconds in floors(size, args.rounds).items():
        rate = "" if "directory" in name else f" ({size / seconds / 1e9:.2f} GB/s)"
        print(f"{name:30s} {seconds * 1e3:8.2f} ms{rate}")
    print("BLAKE3 threads: bytes, one core, all cores (GB/s)")
    for size, one, everyone in crossover(args.rounds):
        print(f"{size:>10,} {size / one / 1e9:6.2f} {size / everyone / 1e9:6.2f}")


if __name__ == "__main__":
    main()
