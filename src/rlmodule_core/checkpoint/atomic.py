"""Atomic checkpoint directories: written beside the target, renamed into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from rlmodule_core.checkpoint.metadata import METADATA_FILE

__all__ = ["atomic_directory"]


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yields a sibling temporary directory that replaces ``target`` on success.

    An existing target is renamed aside, the new one renamed in, then the old one
    deleted; on failure the temporary directory is removed and the target is untouched.
    """
    target = Path(target).absolute()
    if target.exists():
        if not target.is_dir():
            raise ValueError(f"Cannot save a checkpoint to {str(target)!r}: it is a file.")
        if any(target.iterdir()) and not (target / METADATA_FILE).exists():
            raise ValueError(
                f"Refusing to overwrite {str(target)!r}: it is a non-empty directory that is "
                "not a checkpoint. Choose a new or empty directory."
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
