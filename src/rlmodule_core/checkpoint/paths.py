"""Names inside a checkpoint: plain relative paths that stay inside its directory.

Every name a checkpoint's metadata gives (its ``files``, ``state_file``, module IDs)
passes through here before it touches the file system, so a checkpoint can neither
read nor hash a file outside its own directory, nor follow a symbolic link.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from rlmodule_core.checkpoint.errors import CheckpointError

__all__ = ["MAX_NAME_LENGTH", "check_name", "inside", "is_symlink"]

#: Longest component most file systems accept.
MAX_NAME_LENGTH = 255
#: A name may have at most this many ``/``-separated components (``module_id/metadata.json``
#: of a MultiRLModule, ``module/module_id/metadata.json`` below a learner checkpoint).
MAX_DEPTH = 4
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\:]")


def check_name(name: object, where: str) -> str:
    """Returns ``name`` if it is a plain relative ``/``-separated path, else raises.

    Refused: non-strings, empty names or components, ``.`` and ``..``, absolute paths,
    backslashes, colons and control characters (which would mean something else on some
    system), components starting with ``.`` (temporary and hidden files), and names
    longer than a file system allows.

    Raises:
        CheckpointError: naming ``where`` (the file and field) and the name.
    """
    if not isinstance(name, str):
        raise CheckpointError(f"{where} must be a file name (a string); received {type(name).__name__}.")
    parts = name.split("/")
    problem = None
    if not name or len(parts) > MAX_DEPTH:
        problem = f"it must have 1 to {MAX_DEPTH} components"
    elif _BAD_CHARS.search(name):
        problem = "it holds a control character, a backslash or a colon"
    elif any(not p or p.startswith(".") or len(p) > MAX_NAME_LENGTH for p in parts):
        problem = "each component must be a non-empty name that does not start with '.' (no '..', no absolute path)"
    if problem:
        raise CheckpointError(
            f"{where} names {name!r:.120}, which is not a plain relative name inside the checkpoint: "
            f"{problem}. The checkpoint was altered or not written by rlmodule-core."
        )
    return name


def is_symlink(path: Path) -> bool:
    """Whether ``path`` itself is a symbolic link (False if it does not exist)."""
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def inside(directory: Path, name: str, where: str) -> Path:
    """``directory / name`` after checking the name and that no component is a symlink.

    A component that does not exist is not an error here: the caller reports a missing
    file in its own words.

    Raises:
        CheckpointError: the name is not plain or a component is a symbolic link.
    """
    check_name(name, where)
    path = directory
    for part in name.split("/"):
        path = path / part
        if is_symlink(path):
            raise CheckpointError(
                f"{where}: {path} is a symbolic link. A checkpoint holds only regular files and "
                "directories, so that it cannot read anything outside itself; copy the real file in."
            )
    return path
