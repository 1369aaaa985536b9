"""The checksums of a checkpoint's files: BLAKE3 (format version 2) and sha256 (version 1).

Format version 2 names its algorithm in the metadata (``"digest": "blake3"``); version 1
used sha256 without naming it. Both are cryptographic hashes of 32 bytes, written as 64
lowercase hex digits. BLAKE3 hashes several times faster than sha256 on one core and
spreads large inputs over all cores; below ``MULTI_THREAD_BYTES`` the threads cost
more than they save (measured: ``docs/performance.md``), so small inputs hash on one.

Example:
    >>> data = b"weights"
    >>> hasher = new_hasher("blake3", size=len(data))
    >>> hasher.update(data)
    >>> hasher.hexdigest() == hex_digest("blake3", data)
    True
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

import blake3

__all__ = [
    "ALGORITHMS", "DIGEST", "MULTI_THREAD_BYTES", "Hasher", "algorithm_of", "file_digest",
    "hex_digest", "metadata_digest_field", "new_hasher",
]

#: The algorithm format version 2 writes.
DIGEST = "blake3"
#: Each format version's algorithms: version 1 is sha256 only, and does not name it.
ALGORITHMS: dict[int, tuple[str, ...]] = {1: ("sha256",), 2: ("blake3",)}
#: Inputs at least this large hash on every core (smaller ones on one: see the module doc).
MULTI_THREAD_BYTES = 1 << 20


class Hasher(Protocol):
    """What ``new_hasher`` returns (``hashlib``'s and ``blake3``'s objects both are)."""

    def update(self, data: Any, /) -> Any: ...

    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str, *, size: int = 0) -> Hasher:
    """An empty hasher of ``algorithm``; ``size`` (bytes to come) picks BLAKE3's threads."""
    if algorithm == "blake3":
        threads = blake3.blake3.AUTO if size >= MULTI_THREAD_BYTES else 1
        return blake3.blake3(max_threads=threads)
    if algorithm == "sha256":
        return hashlib.sha256()
    raise ValueError(f"Unknown checksum algorithm {algorithm!r}; expected one of {sorted(_known())}.")


def hex_digest(algorithm: str, data: Any) -> str:
    """The digest of a bytes-like ``data`` as 64 hex digits."""
    hasher = new_hasher(algorithm, size=memoryview(data).nbytes)
    hasher.update(data)
    return hasher.hexdigest()


def file_digest(path: Path, algorithm: str) -> str:
    """The digest of the file at ``path``, read once through one reused buffer."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        hasher = new_hasher(algorithm, size=size)
        # Never larger than the file: read(n) would allocate n bytes each time.
        buffer = memoryview(bytearray(min(1 << 22, max(size, 1))))
        while n := f.readinto(buffer):
            hasher.update(buffer[:n])
    return hasher.hexdigest()


def algorithm_of(metadata: dict[str, Any]) -> str:
    """The algorithm of a schema-checked metadata's checksums (sha256 before version 2)."""
    return metadata.get("digest", "sha256") if metadata["format_version"] >= 2 else "sha256"


def metadata_digest_field(version: int) -> str:
    """The field holding the metadata's own checksum in format ``version``."""
    return "metadata_sha256" if version == 1 else "metadata_digest"


def _known() -> set[str]:
    return {name for names in ALGORITHMS.values() for name in names}
