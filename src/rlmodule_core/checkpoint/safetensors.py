"""Reading and writing safetensors files in one pass each, with their checksum.

The files are plain safetensors (https://huggingface.co/docs/safetensors): an 8-byte
little-endian header length, a JSON header ``{name: {"dtype", "shape", "data_offsets"}}``
padded with spaces to a multiple of 8 bytes, then the tensors' bytes back to back. The
``safetensors`` package reads and writes them too (the tests check both directions).

Why not through that package: its NumPy API copies every array to ``bytes`` before
writing and reads into fresh copies, and a checkpoint also needs the file's checksum
(BLAKE3; sha256 for format version 1), which
meant reading the file back after writing it and reading it twice to restore it. Here a
save streams the arrays to the file while a second thread hashes the same memory (the
hash and the ``write`` calls release the GIL), asking for them a batch at a
time (``write_streamed``: a module's save never holds a copy of its whole state),
and a restore reads the file once into one buffer, hashes it, and returns arrays that
are views of that buffer; or,
for a restore that copies the arrays into a module right away, maps the file instead
(``mapped=True``): no second copy of the state in the process's own memory, and no
copy from the page cache before hashing.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import queue
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from rlmodule_core.checkpoint.digest import DIGEST, new_hasher

_DTYPES = {
    "BOOL": np.dtype(np.bool_), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}

__all__ = [
    "BATCH_BYTES", "MAX_HEADER_BYTES", "Entry", "Header", "SafetensorsError", "read", "read_file_header", "read_header",
    "write", "write_streamed",
]


class SafetensorsError(ValueError):
    """A file is not a well-formed safetensors file (the message says what is wrong)."""


def _file_dtype(key: str, dtype: Any) -> np.dtype:
    """The little-endian dtype ``dtype`` is stored as, or an error naming ``key``."""
    dtype = np.dtype(dtype)
    if dtype.byteorder == ">":
        dtype = dtype.newbyteorder("<")
    if dtype not in _NAMES:
        raise ValueError(
            f"State entry {key!r} has dtype {dtype}, which a safetensors file cannot "
            f"hold. Expected one of {sorted(str(d) for d in _NAMES)}."
        )
    return dtype


def _prepared(key: str, value: Any) -> np.ndarray:
    """A C-contiguous little-endian array of ``value`` (copied only when needed)."""
    array = np.asarray(value)
    dtype = _file_dtype(key, array.dtype)
    if array.dtype != dtype:
        array = array.astype(dtype)
    # Not np.ascontiguousarray: it turns 0-d arrays (scalars, step counters) into 1-d.
    return array if array.flags.c_contiguous else array.copy(order="C")


def write(path: Path, state: Mapping[str, Any]) -> str:
    """Writes ``state`` to ``path`` and returns the file's BLAKE3 digest (hex)."""
    arrays = {key: _prepared(key, value) for key, value in state.items()}
    layout = {key: (array.shape, array.dtype) for key, array in arrays.items()}
    return write_streamed(path, layout, lambda keys: {key: arrays[key] for key in keys})


#: How many bytes of arrays ``write_streamed`` asks ``read`` for at a time. Between
#: batches the hash catches up, so a state that fits one batch is written while it is
#: hashed, as it was before streaming; only larger states trade that overlap
#: for holding one batch instead of the whole state.
BATCH_BYTES = 64 * 2**20


def write_streamed(
    path: Path,
    layout: Mapping[str, tuple[tuple[int, ...], Any]],
    read: Callable[[list[str]], Mapping[str, Any]],
    *,
    batch_bytes: int = BATCH_BYTES,
) -> str:
    """Writes the arrays ``read`` returns, a batch of keys at a time; returns the BLAKE3 digest.

    ``layout`` is ``{key: (shape, dtype)}`` of every array; the header is written from it
    first, then ``read(keys)`` is called for consecutive keys of about ``batch_bytes``
    (one key at least) in file order. A batch's bytes are written while a second thread
    hashes them, and dropped after both: a save holds one batch, not a copy of the whole
    state. The hash runs on one thread: the writer keeps the other core busy (BLAKE3 on
    one core outruns a write to the page cache). Not fsynced: a checkpoint's
    ``atomic_directory`` syncs all its files once, before the swap.

    Raises:
        ValueError: a dtype a safetensors file cannot hold (before anything is written),
            or an array ``read`` returned does not match ``layout`` (the file is then
            incomplete: write into a directory that is discarded on errors).
    """
    files = {key: (tuple(int(n) for n in shape), _file_dtype(key, dtype)) for key, (shape, dtype) in layout.items()}
    # Widest dtypes first (then by name), as the safetensors package orders them: every
    # tensor then starts at a multiple of its item size after the 8-byte-aligned header.
    order = sorted(files, key=lambda k: (-files[k][1].itemsize, k))
    header: dict[str, Any] = {}
    batches: list[list[str]] = [[]]
    offset = batched = 0
    for key in order:
        shape, dtype = files[key]
        size = math.prod(shape) * dtype.itemsize
        header[key] = {"dtype": _NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
        if batches[-1] and batched + size > batch_bytes:
            batches.append([])
            batched = 0
        batches[-1].append(key)
        batched += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)

    digest = new_hasher(DIGEST)
    pending: queue.Queue = queue.Queue()

    def hash_chunks() -> None:
        while (chunk := pending.get()) is not None:
            digest.update(chunk)
            pending.task_done()

    hasher = threading.Thread(target=hash_chunks, daemon=True)
    hasher.start()
    try:
        with open(path, "wb") as f:
            chunk = len(text).to_bytes(8, "little") + text
            pending.put(chunk)
            f.write(chunk)
            for keys in batches:
                # The hash catches up before the next batch is read: one batch is alive
                # at a time, and the backend's copy (multi-threaded in torch) does not
                # compete with the hash for the cores.
                pending.join()
                arrays = read(keys) if keys else {}
                for key in keys:
                    array = _prepared(key, arrays[key])
                    if (array.shape, array.dtype) != files[key]:
                        raise ValueError(
                            f"State entry {key!r} is {array.shape} {array.dtype} but was announced as "
                            f"{files[key][0]} {files[key][1]}: the state changed while it was saved."
                        )
                    chunk = memoryview(array.reshape(-1).view(np.uint8))
                    pending.put(chunk)
                    f.write(chunk)
                # Let go of this batch before reading the next (the hasher holds it until hashed).
                arrays = array = chunk = None
    finally:
        pending.put(None)
        hasher.join()
    return digest.hexdigest()


#: Largest header accepted (the safetensors package's own limit is 100 MB).
MAX_HEADER_BYTES = 100_000_000
#: Most dimensions of one tensor.
MAX_NDIM = 32


class Entry(NamedTuple):
    """One tensor of a safetensors header: where its bytes are and what they mean."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


class Header(NamedTuple):
    """A validated safetensors header: every entry fits the file."""

    entries: list[Entry]
    #: Bytes before the tensors (8 + the header's length).
    data_start: int
    file_size: int
    raw: bytes

    @property
    def num_elements(self) -> int:
        return sum(math.prod(e.shape) for e in self.entries)


def read_header(f: BinaryIO, file_size: int) -> Header:
    """Reads and validates the header of the open file ``f`` of ``file_size`` bytes.

    Nothing larger than the header is read or allocated: the header length is checked
    against the file size first, and every entry's dtype, shape and offsets are checked
    against the data that follows, so a small file cannot make a large allocation.

    Raises:
        SafetensorsError: the header is malformed or does not fit the file.
    """
    if file_size < 8:
        raise SafetensorsError(f"{file_size} bytes is too short for a safetensors header")
    length = int.from_bytes(f.read(8), "little")
    if length > min(MAX_HEADER_BYTES, file_size - 8):
        raise SafetensorsError(
            f"the header claims {length} bytes but the file has {file_size} "
            f"(and a header may have at most {MAX_HEADER_BYTES})"
        )
    raw = f.read(length)
    if len(raw) != length:
        raise SafetensorsError("the file ended inside the header")
    try:
        header = json.loads(raw, object_pairs_hook=_unique_pairs)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise SafetensorsError(f"the header is not valid JSON ({_short(err)})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"the header is a JSON {type(header).__name__}, expected an object")
    extra = header.pop("__metadata__", None)
    if extra is not None and not (
        isinstance(extra, dict) and all(isinstance(v, str) for v in extra.values())
    ):
        raise SafetensorsError("__metadata__ must be an object of strings")
    data_size = file_size - 8 - length
    entries = sorted((_entry(key, info, data_size) for key, info in header.items()), key=lambda e: e.begin)
    position = 0
    for entry in entries:
        if entry.begin != position:
            raise SafetensorsError(f"entry {entry.name!r:.80} starts at {entry.begin}, expected {position}")
        position = entry.end
    if position != data_size:
        raise SafetensorsError(f"the tensors take {position} bytes but {data_size} follow the header")
    return Header(entries, 8 + length, file_size, raw)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise SafetensorsError("the header names a tensor twice")
    return out


def _short(err: Exception) -> str:
    return str(err)[:200]


def _entry(key: str, info: Any, data_size: int) -> Entry:
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise SafetensorsError(
            f"entry {key!r:.80} must be an object with exactly dtype, shape and data_offsets"
        )
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise SafetensorsError(
            f"entry {key!r:.80} has dtype {dtype!r:.40}; expected one of {sorted(_DTYPES)}"
        )
    if not (
        isinstance(shape, list) and len(shape) <= MAX_NDIM
        and all(type(n) is int and 0 <= n < 2**63 for n in shape)
    ):
        raise SafetensorsError(
            f"entry {key!r:.80} has shape {shape!r:.80}; expected a list of at most {MAX_NDIM} "
            "non-negative ints"
        )
    if not (
        isinstance(offsets, list) and len(offsets) == 2
        and all(type(n) is int for n in offsets) and 0 <= offsets[0] <= offsets[1] <= data_size
    ):
        raise SafetensorsError(
            f"entry {key!r:.80} has data_offsets {offsets!r:.80}; expected [begin, end] within "
            f"the {data_size} data bytes"
        )
    begin, end = offsets
    # Exact in Python ints (no overflow), and compared with the file's bytes before any use.
    if end - begin != math.prod(shape) * _DTYPES[dtype].itemsize:
        raise SafetensorsError(f"entry {key!r:.80}: offsets {begin}..{end} do not fit shape {shape}")
    return Entry(key, dtype, tuple(shape), begin, end)


def read(
    path: Path, *, mapped: bool = False, algorithm: str = DIGEST
) -> tuple[dict[str, np.ndarray], str]:
    """``(state, digest hex)`` of a safetensors file, read once; ``algorithm`` is the hash's.

    The header is read and validated first (``read_header``); only then is one
    buffer of the file's size allocated, filled, hashed and viewed as the arrays (any of
    them kept alive keeps the whole buffer: copy what should outlive the rest).

    With ``mapped``, the arrays are views of a private (copy-on-write) memory map of the
    file instead of a buffer: the hash reads the page cache directly and nothing is
    copied until the caller copies the arrays. For short-lived use only (a restore that
    copies them into a module at once): checkpoint files are replaced by renames, never
    rewritten in place, but a file truncated by someone else while it is mapped would
    make a later access fault.

    Raises:
        SafetensorsError: the file is malformed or truncated.
        OSError: the file cannot be opened.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header = read_header(f, size)
        if mapped:
            buffer = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY)
            if os.fstat(f.fileno()).st_size != size:
                raise SafetensorsError("the file changed size while it was read")
        else:
            f.seek(0)
            # np.empty, not bytearray(size): no zero-filling pass over memory about to be read into.
            buffer = np.empty(size, np.uint8)
            if f.readinto(memoryview(buffer)) != size or f.read(1):
                raise SafetensorsError("the file changed size while it was read")
    if bytes(buffer[8 : header.data_start]) != header.raw:
        raise SafetensorsError("the file changed while it was read")
    hasher = new_hasher(algorithm, size=size)
    hasher.update(buffer)
    digest = hasher.hexdigest()
    start = header.data_start
    return {
        e.name: np.frombuffer(buffer, _DTYPES[e.dtype], count=math.prod(e.shape), offset=start + e.begin).reshape(e.shape)
        for e in header.entries
    }, digest


def read_file_header(path: Path) -> Header:
    """The validated header of the safetensors file at ``path`` (no tensor data is read).

    Raises:
        SafetensorsError: the file is malformed or truncated.
        OSError: the file cannot be opened.
    """
    with open(path, "rb") as f:
        return read_header(f, os.fstat(f.fileno()).st_size)
