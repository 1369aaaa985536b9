"""The state file: a flat ``{dotted.path: array}`` dict as safetensors, with its checksum."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rlmodule_core.checkpoint import safetensors
from rlmodule_core.checkpoint.digest import DIGEST, file_digest
from rlmodule_core.checkpoint.errors import CheckpointError, CorruptCheckpointError
from rlmodule_core.checkpoint.metadata import corrupt_file_error
from rlmodule_core.checkpoint.paths import is_symlink

__all__ = ["load_state_file", "read_state_header", "save_state_file", "stream_state_file"]


def save_state_file(path: Path, state: Mapping[str, Any]) -> str:
    """Writes ``state`` as a safetensors file and returns its BLAKE3 digest (hex).

    Not fsynced: write inside ``atomic_directory``, which syncs every file before the swap.
    """
    return safetensors.write(path, state)


def stream_state_file(
    path: Path,
    layout: Mapping[str, tuple[tuple[int, ...], Any]],
    read: Callable[[list[str]], Mapping[str, Any]],
) -> str:
    """Writes the state ``read(keys)`` returns a batch at a time; returns its digest.

    The same file as ``save_state_file`` of the whole state; ``layout`` is
    ``{key: (shape, dtype)}`` of every entry (see ``safetensors.write_streamed``).
    """
    return safetensors.write_streamed(path, layout, read)


def _check_regular(path: Path) -> None:
    if is_symlink(path):
        raise CheckpointError(f"Checkpoint file {path} is a symbolic link; a checkpoint holds only regular files.")
    if not path.is_file():
        raise CorruptCheckpointError(f"Checkpoint file {path} is missing.")


def load_state_file(
    path: Path, *, digest: str | None = None, algorithm: str = DIGEST, mapped: bool = False
) -> dict[str, np.ndarray]:
    """Reads a safetensors state file; with ``digest``, checks the file against it.

    The header is validated before the data is read, and the data is hashed as it is
    read (one pass over the file), with ``algorithm`` (``"blake3"``; ``"sha256"`` for a
    checkpoint of format version 1). ``mapped`` returns views of a memory map of the file
    rather than of a private copy (see ``safetensors.read``): for a caller that copies
    them into a module at once, after the check passed.

    Raises:
        CorruptCheckpointError: the file is missing, altered (checksum) or malformed.
    """
    _check_regular(path)
    try:
        state, found = safetensors.read(path, mapped=mapped, algorithm=algorithm)
    except (OSError, safetensors.SafetensorsError) as err:
        # A malformed file that its checksum vouches for was written so; one that it does
        # not was altered after the save: say which (hashing it only on this error path).
        if digest is not None and not isinstance(err, OSError) and _digest_or_none(path, algorithm) != digest:
            raise corrupt_file_error(path) from err
        raise _unreadable(path, err) from err
    if digest is not None and found != digest:
        raise corrupt_file_error(path)
    return state


def _digest_or_none(path: Path, algorithm: str) -> str | None:
    try:
        return file_digest(path, algorithm)
    except OSError:
        return None


def read_state_header(path: Path) -> safetensors.Header:
    """The validated safetensors header of a state file (no tensor data is read).

    Raises:
        CorruptCheckpointError: the file is missing or its header is malformed.
    """
    _check_regular(path)
    try:
        return safetensors.read_file_header(path)
    except (OSError, safetensors.SafetensorsError) as err:
        raise _unreadable(path, err) from err


def _unreadable(path: Path, err: Exception) -> CorruptCheckpointError:
    if isinstance(err, OSError):
        return CorruptCheckpointError(f"Checkpoint file {path} cannot be read: {err.strerror or err}.")
    return CorruptCheckpointError(
        f"Checkpoint file {path} is corrupted or truncated: {err}. Re-save the checkpoint."
    )
