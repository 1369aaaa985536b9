"""Reading and writing safetensors files in one pass each, with their sha256.

The files are plain safetensors (https://huggingface.co/docs/safetensors): an 8-byte
little-endian header length, a JSON header ``{name: {"dtype", "shape", "data_offsets"}}``
padded with spaces to a multiple of 8 bytes, then the tensors' bytes back to back. The
``safetensors`` package reads and writes them too (the tests check both directions).

Why not through that package: its NumPy API copies every array to ``bytes`` before
writing and reads into fresh copies, and a checkpoint also needs the file's sha256, which
meant reading the file back after writing it and reading it twice to restore it. Here a
save streams the arrays to the file while a second thread hashes the same memory (the
hash and the ``write``/``fsync`` calls release the GIL), and a restore reads the file
once into one buffer, hashes it, and returns arrays that are views of that buffer.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

_DTYPES = {
    "BOOL": np.dtype(np.bool_), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


class SafetensorsError(ValueError):
    """A file is not a well-formed safetensors file (the message says what is wrong)."""


def _prepared(key: str, value: Any) -> np.ndarray:
    """A C-contiguous little-endian array of ``value`` (copied only when needed)."""
    array = np.asarray(value)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.dtype not in _NAMES:
        raise ValueError(
            f"State entry {key!r} has dtype {array.dtype}, which a safetensors file cannot "
            f"hold. Expected one of {sorted(str(d) for d in _NAMES)}."
        )
    # Not np.ascontiguousarray: it turns 0-d arrays (scalars, step counters) into 1-d.
    return array if array.flags.c_contiguous else array.copy(order="C")


def write(path: Path, state: Mapping[str, Any]) -> str:
    """Writes ``state`` to ``path``, fsyncs it, and returns the file's sha256 (hex)."""
    arrays = {key: _prepared(key, value) for key, value in state.items()}
    # Widest dtypes first (then by name), as the safetensors package orders them: every
    # tensor then starts at a multiple of its item size after the 8-byte-aligned header.
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    header: dict[str, Any] = {}
    offset = 0
    for key in order:
        array = arrays[key]
        header[key] = {"dtype": _NAMES[array.dtype], "shape": list(array.shape),
                       "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    chunks = [len(text).to_bytes(8, "little") + text]
    chunks += [memoryview(arrays[key].reshape(-1).view(np.uint8)) for key in order]

    digest = hashlib.sha256()
    hasher = threading.Thread(target=lambda: [digest.update(c) for c in chunks], daemon=True)
    hasher.start()
    try:
        with open(path, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
    finally:
        hasher.join()
    return digest.hexdigest()


def read(path: Path) -> tuple[dict[str, np.ndarray], str]:
    """``(state, sha256 hex)`` of a safetensors file, read once.

    The arrays are writable views of one buffer holding the file (any of them kept alive
    keeps the whole buffer: copy what should outlive the rest).

    Raises:
        SafetensorsError: the file is malformed or truncated.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        # np.empty, not bytearray(size): no zero-filling pass over memory about to be read into.
        buffer = np.empty(size, np.uint8)
        if f.readinto(memoryview(buffer)) != size:
            raise SafetensorsError("the file changed size while it was read")
    digest = hashlib.sha256(buffer).hexdigest()
    return _parse(buffer), digest


def _parse(buffer: np.ndarray) -> dict[str, np.ndarray]:
    if len(buffer) < 8:
        raise SafetensorsError(f"{len(buffer)} bytes is too short for a safetensors header")
    length = int.from_bytes(buffer[:8].tobytes(), "little")
    start = 8 + length
    if start > len(buffer):
        raise SafetensorsError(f"the header claims {length} bytes but the file has {len(buffer)}")
    try:
        header = json.loads(buffer[8:start].tobytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SafetensorsError(f"the header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise SafetensorsError("the header is not a JSON object")
    header.pop("__metadata__", None)
    entries = []
    for key, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = tuple(int(n) for n in info["shape"])
            begin, end = (int(n) for n in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"entry {key!r} is malformed: {info!r:.100}") from None
        if any(n < 0 for n in shape) or end - begin != int(np.prod(shape)) * dtype.itemsize:
            raise SafetensorsError(f"entry {key!r}: offsets {begin}..{end} do not fit shape {shape}")
        entries.append((begin, end, key, dtype, shape))
    entries.sort()
    position = 0
    for begin, end, key, _, _ in entries:
        if begin != position:
            raise SafetensorsError(f"entry {key!r} starts at {begin}, expected {position}")
        position = end
    if start + position != len(buffer):
        raise SafetensorsError(f"the tensors take {position} bytes but {len(buffer) - start} follow the header")
    return {
        key: np.frombuffer(buffer, dtype, count=int(np.prod(shape)), offset=start + begin).reshape(shape)
        for begin, _, key, dtype, shape in entries
    }
