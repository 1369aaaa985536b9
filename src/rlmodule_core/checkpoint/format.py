"""The format's constants: its name and version, and the file names of a checkpoint."""

from __future__ import annotations

import re

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "METADATA_FILE", "RESERVED_NAMES", "STATE_FILE",
    "module_id_problem",
]

FORMAT_NAME = "rlmodule-core/checkpoint"
#: Version 2 (BLAKE3 checksums, named in the metadata) is written; version 1 (sha256) is read too.
FORMAT_VERSION = 2
METADATA_FILE = "metadata.json"
STATE_FILE = "module_state.safetensors"
#: A checkpoint's own file names (compared ignoring case): never a module ID.
RESERVED_NAMES = frozenset({METADATA_FILE, STATE_FILE})

_ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def module_id_problem(module_id: object) -> str | None:
    """Why ``module_id`` cannot name a sub-directory of a checkpoint, or None if it can."""
    if not isinstance(module_id, str) or not _ID_PATTERN.fullmatch(module_id):
        return (
            "expected a string of 1-128 characters from [A-Za-z0-9_.-] that does not start "
            "with '.' or '-' (module IDs become directory names)"
        )
    if module_id.lower() in RESERVED_NAMES:
        return f"it is one of the checkpoint's own file names {sorted(RESERVED_NAMES)}"
    return None
