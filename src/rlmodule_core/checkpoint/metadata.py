"""``metadata.json``: the format constants, writing with checksums, reading and verifying."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlmodule_core.checkpoint.digest import (
    DIGEST,
    algorithm_of,
    file_digest,
    hex_digest,
    metadata_digest_field,
)
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
    "MAX_METADATA_BYTES", "canonical", "corrupt_file_error", "read_metadata",
    "verify_checkpoint", "verify_metadata", "write_metadata",
]

#: Largest metadata.json read (Box bounds as nested lists make legitimate files large).
MAX_METADATA_BYTES = 64 << 20


def canonical(metadata: Mapping[str, Any]) -> bytes:
    """The bytes the metadata's own checksum covers: every field but that checksum."""
    field = metadata_digest_field(metadata.get("format_version", FORMAT_VERSION))
    body = {k: v for k, v in metadata.items() if k != field}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _hashed_files(directory: Path) -> list[str]:
    """Files a directory's metadata vouches for: its own files and sub-checkpoints' metadata."""
    names = []
    for entry in sorted(directory.iterdir()):
        if entry.is_file() and entry.name != METADATA_FILE:
            names.append(entry.name)
        elif entry.is_dir() and (entry / METADATA_FILE).is_file():
            names.append(f"{entry.name}/{METADATA_FILE}")
    return names


def write_metadata(directory: Path, metadata: dict[str, Any], files: Mapping[str, str]) -> str:
    """Writes ``metadata.json`` with the checksums of the directory's files.

    ``files`` holds the BLAKE3 digest of every file in ``directory`` (and of every
    sub-checkpoint's ``metadata.json``), computed by their writers as they wrote them: no
    file is read back. The metadata gets ``format_version`` ``FORMAT_VERSION``,
    ``"digest": "blake3"``, ``files`` and its own checksum. Not fsynced here:
    ``atomic_directory`` syncs every file once, just before it swaps the directory in.

    Returns:
        The digest of the ``metadata.json`` written, for a parent checkpoint's ``files``.

    Raises:
        ValueError: ``files`` does not name exactly the files in ``directory`` (a bug of
            the caller; nothing is written).
    """
    present = _hashed_files(directory)
    if sorted(files) != sorted(present):
        raise ValueError(
            f"write_metadata: {directory} holds {present} but checksums were given for "
            f"{sorted(files)}; pass the digest of every file written."
        )
    metadata = {k: v for k, v in metadata.items() if k not in ("metadata_sha256", "metadata_digest")}
    metadata.update(format_version=FORMAT_VERSION, digest=DIGEST, files=dict(files))
    metadata[metadata_digest_field(FORMAT_VERSION)] = hex_digest(DIGEST, canonical(metadata))
    data = (json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()
    (directory / METADATA_FILE).write_bytes(data)
    return hex_digest(DIGEST, data)


def read_metadata(
    directory: str | os.PathLike, *, verify: bool = True, expected: tuple[str, str] | None = None
) -> dict[str, Any]:
    """Reads, schema-checks and (by default) verifies a checkpoint directory's metadata.

    ``expected`` is ``(algorithm, digest)`` a parent checkpoint lists for this
    ``metadata.json``: the bytes are checked against it as they are read (before they
    are parsed), so the parent need not read the file a second time.

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
    if expected is not None and hex_digest(expected[0], raw) != expected[1]:
        raise corrupt_file_error(meta_path)
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
    field = metadata_digest_field(metadata["format_version"])
    if hex_digest(algorithm_of(metadata), canonical(metadata)) != metadata.get(field):
        raise CorruptCheckpointError(
            f"{directory / METADATA_FILE} is corrupted: its content does not match its "
            f"checksum ({field}, {algorithm_of(metadata)}). Re-save the checkpoint."
        )


def verify_checkpoint(
    directory: Path, metadata: Mapping[str, Any], *, skip: tuple[str, ...] = ()
) -> None:
    """Checks the metadata checksum and every listed file's digest.

    ``skip`` names files the caller verifies itself while reading them
    (``load_state_file(..., digest=...)``, ``read_metadata(..., expected=...)``), so that
    no file is read twice.
    """
    verify_metadata(directory, metadata)
    algorithm = algorithm_of(metadata)
    for name, expected in metadata.get("files", {}).items():
        if name in skip:
            continue
        file = inside(directory, name, f"{directory / METADATA_FILE}: field 'files'")
        if not file.is_file():
            raise CorruptCheckpointError(f"Checkpoint file {file} is missing.")
        try:
            digest = file_digest(file, algorithm)
        except OSError as err:
            raise CheckpointError(f"Checkpoint file {file} cannot be read: {err.strerror or err}.") from err
        if digest != expected:
            raise corrupt_file_error(file)


def corrupt_file_error(file: Path) -> CorruptCheckpointError:
    """The error of a file whose bytes do not match the checksum its metadata lists."""
    return CorruptCheckpointError(
        f"Checkpoint file {file} is corrupted or truncated: its checksum does not match "
        f"{METADATA_FILE}. Re-save the checkpoint."
    )
