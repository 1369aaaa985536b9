"""The state file: a flat ``{dotted.path: array}`` dict as safetensors, with its sha256."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rlmodule_core.checkpoint import safetensors
from rlmodule_core.checkpoint.errors import CorruptCheckpointError
from rlmodule_core.checkpoint.metadata import corrupt_file_error, sha256_file

__all__ = ["load_state_file", "save_state_file"]


def save_state_file(path: Path, state: Mapping[str, Any]) -> str:
    """Writes ``state`` as a safetensors file (fsynced) and returns its sha256 (hex)."""
    return safetensors.write(path, state)


def load_state_file(path: Path, *, sha256: str | None = None) -> dict[str, np.ndarray]:
    """Reads a safetensors state file; with ``sha256``, first checks the file against it.

    Raises:
        CorruptCheckpointError: the file is missing, altered (sha256) or malformed.
    """
    if not path.is_file():
        raise CorruptCheckpointError(f"Checkpoint file {path} is missing.")
    try:
        state, digest = safetensors.read(path)
    except (OSError, safetensors.SafetensorsError) as err:
        if sha256 is not None and sha256_file(path) != sha256:
            raise corrupt_file_error(path) from err
        raise CorruptCheckpointError(f"Checkpoint file {path} cannot be read: {err}") from err
    if sha256 is not None and digest != sha256:
        raise corrupt_file_error(path)
    return state
