"""``metadata.json``: the format constants, writing with checksums, reading and verifying."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlmodule_core.checkpoint.errors import (
    CheckpointError,
    CorruptCheckpointError,
    NotACheckpointError,
)
from rlmodule_core.checkpoint.format import FORMAT_NAME, FORMAT_VERSION, METADATA_FILE, STATE_FILE
from rlmodule_core.checkpoint.paths import inside, is_symlink
from rlmodule_core.checkpoint.schema import check_metadata, check_nesting

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "METADATA_FILE", "STATE_FILE",
    "MAX_METADATA_BYTES", "read_metadata", "sha256_file", "verify_checkpoint", "verify_metadata", "write_metadata",
]

#: Largest metadata.json read (Box bounds as nested lists make legitimate files large).
MAX_METADATA_BYTES = 64 << 20
_HASH_FIELD = "metadata_sha256"


def _canonical(metadata: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in metadata.items() if k != _HASH_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def sha256_file(path: Path, *, sync: bool = False) -> str:
    """The file's sha256; ``sync`` also flushes it to disk (for files just written)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        # One reused buffer, never larger than the file: read(n) would allocate n each time.
        buffer = memoryview(bytearray(min(1 << 22, max(os.fstat(f.fileno()).st_size, 1))))
        while n := f.readinto(buffer):
            digest.update(buffer[:n])
        if sync:
            os.fsync(f.fileno())
    return digest.hexdigest()


def _hashed_files(directory: Path) -> list[str]:
    """Files a directory's metadata vouches for: its own files and sub-checkpoints' metadata."""
    names = []
    for entry in sorted(directory.iterdir()):
        if entry.is_file() and entry.name != METADATA_FILE:
            names.append(entry.name)
        elif entry.is_dir() and (entry / METADATA_FILE).is_file():
            names.append(f"{entry.name}/{METADATA_FILE}")
    return names


def write_metadata(
    directory: Path, metadata: dict[str, Any], known: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Adds the file checksums and the metadata's own checksum, then writes it.

    ``known`` holds the sha256 of files whose writer computed it (and fsynced them);
    every other file is read back, hashed and fsynced here.
    """
    metadata = dict(metadata)
    known = known or {}
    metadata["files"] = {
        name: known[name] if name in known else sha256_file(directory / name, sync=True)
        for name in _hashed_files(directory)
    }
    metadata[_HASH_FIELD] = hashlib.sha256(_canonical(metadata)).hexdigest()
    text = json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False)
    with open(directory / METADATA_FILE, "w") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    return metadata


def read_metadata(directory: str | os.PathLike, *, verify: bool = True) -> dict[str, Any]:
    """Reads, schema-checks and (by default) verifies a checkpoint directory's metadata.

    Raises:
        CheckpointError: the path is no checkpoint, the metadata is malformed (the message
            names the file and field), or a file is missing or altered.
    """
    directory = Path(directory)
    meta_path = directory / METADATA_FILE
    if not directory.exists():
        raise NotACheckpointError(f"No checkpoint at {str(directory)!r}: the path does not exist.")
    if is_symlink(meta_path) or not meta_path.is_file():
        raise NotACheckpointError(
            f"{str(directory)!r} is not an rlmodule-core checkpoint: it has no {METADATA_FILE} "
            "(a regular file). Pass the directory that save_to_path() returned."
        )
    try:
        with open(meta_path, "rb") as f:
            # Sized from the file: read(n) would allocate n bytes up front.
            raw = f.read(min(os.fstat(f.fileno()).st_size, MAX_METADATA_BYTES) + 1)
    except OSError as err:
        raise CheckpointError(f"{meta_path} cannot be read: {err.strerror or err}.") from err
    if len(raw) > MAX_METADATA_BYTES:
        raise CheckpointError(f"{meta_path} is larger than {MAX_METADATA_BYTES >> 20} MiB; no checkpoint's metadata is.")
    try:
        metadata = json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:
        raise CorruptCheckpointError(f"{meta_path} is corrupted: not valid strict JSON ({str(err)[:200]}).") from None
    except RecursionError:
        raise CheckpointError(f"{meta_path}: the JSON is nested too deeply.") from None
    check_nesting(metadata, meta_path)
    check_metadata(metadata, meta_path)
    if verify:
        verify_checkpoint(directory, metadata)
    return metadata


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def verify_metadata(directory: Path, metadata: Mapping[str, Any]) -> None:
    """Checks the metadata's own checksum (cheap: no file is read)."""
    if hashlib.sha256(_canonical(metadata)).hexdigest() != metadata.get(_HASH_FIELD):
        raise CorruptCheckpointError(
            f"{directory / METADATA_FILE} is corrupted: its content does not match its "
            f"checksum ({_HASH_FIELD}). Re-save the checkpoint."
        )


def verify_checkpoint(
    directory: Path, metadata: Mapping[str, Any], *, skip: tuple[str, ...] = ()
) -> None:
    """Checks the metadata checksum and every listed file's sha256.

    ``skip`` names files the caller verifies itself while reading them
    (``load_state_file(..., sha256=...)``), so that no file is read twice.
    """
    verify_metadata(directory, metadata)
    for name, expected in metadata.get("files", {}).items():
        if name in skip:
            continue
        file = inside(directory, name, f"{directory / METADATA_FILE}: field 'files'")
        if not file.is_file():
            raise CorruptCheckpointError(f"Checkpoint file {file} is missing.")
        try:
            digest = sha256_file(file)
        except OSError as err:
            raise CheckpointError(f"Checkpoint file {file} cannot be read: {err.strerror or err}.") from err
        if digest != expected:
            raise corrupt_file_error(file)


def corrupt_file_error(file: Path) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f"Checkpoint file {file} is corrupted or truncated: its sha256 does not match "
        f"{METADATA_FILE}. Re-save the checkpoint."
    )
