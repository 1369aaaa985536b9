"""Atomic checkpoint directories: written beside the target, then swapped into place.

A save writes a sibling temporary directory ``.<name>.tmp-<pid>-<random>`` and swaps it
with the target in one step where the OS offers one (Linux ``renameat2`` with
``RENAME_EXCHANGE``), so a reader always finds a complete checkpoint at the path. Where
it does not, the old checkpoint is renamed aside to ``.<name>.old-<pid>-<random>`` first
and readers retry (``read_consistently``). The leftovers of a killed save (its
``.tmp-``/``.old-`` directories, whose process is gone) are removed by the next save to
the same path, and an old checkpoint left aside by a crash between the two renames is
put back first.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from rlmodule_core.checkpoint.errors import CheckpointError
from rlmodule_core.checkpoint.format import METADATA_FILE
from rlmodule_core.checkpoint.metadata import read_metadata
from rlmodule_core.checkpoint.paths import is_symlink

try:
    import fcntl
except ImportError:  # Windows: no flock; readers rely on the retry alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_directory", "foreign_entries", "read_consistently"]

T = TypeVar("T")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
#: How often a save retries a swap that a concurrent save raced with.
_SWAP_ATTEMPTS = 50
#: How often (and how long apart) a reader retries when the checkpoint changed under it.
_READ_ATTEMPTS, _READ_PAUSE_S = 20, 0.05
#: Linux shows an open directory as a path: reads through it stay in that directory.
_PROC_FD = sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd")


def _renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two existing paths atomically; False if the OS or file system cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


def foreign_entries(directory: Path, depth: int = 0) -> list[str]:
    """What in ``directory`` is not part of the checkpoint its metadata describes.

    Empty when the directory holds exactly the files its ``metadata.json`` lists
    (recursively into sub-checkpoints); otherwise the names found that a save would
    destroy (everything, when there is no readable metadata of this format).
    """
    entries = sorted(os.listdir(directory))
    try:
        listed = read_metadata(directory, verify=False)["files"]
    except CheckpointError:
        return entries
    found = []
    for name in entries:
        path = directory / name
        if name == METADATA_FILE and not is_symlink(path):
            continue
        if is_symlink(path):
            found.append(name)
        elif path.is_dir() and f"{name}/{METADATA_FILE}" in listed and depth < 3:
            found += [f"{name}/{sub}" for sub in foreign_entries(path, depth + 1)]
        elif not (path.is_file() and name in listed):
            found.append(name)
    return found


def _umask_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o777 & ~mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(target: Path) -> list[tuple[str, Path]]:
    """``(kind, path)`` of earlier saves' directories whose process is gone."""
    found = []
    prefix = f".{target.name}."
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    for name in names:
        if not name.startswith(prefix):
            continue
        kind, _, rest = name[len(prefix):].partition("-")
        pid = rest.split("-", 1)[0]
        if kind in ("tmp", "old") and pid.isdigit() and not _pid_alive(int(pid)):
            found.append((kind, target.parent / name))
    return found


def _clean_leftovers(target: Path) -> None:
    for kind, path in _leftovers(target):
        # A crash between the fallback's two renames left the old checkpoint aside:
        # put it back unless a newer one took its place.
        if kind == "old" and not target.exists():
            with contextlib.suppress(OSError):
                os.rename(path, target)
                continue
        shutil.rmtree(path, ignore_errors=True)


def _check_target(target: Path) -> int | None:
    """The mode to give the new directory (the existing one's), after refusing foreign targets."""
    if is_symlink(target):
        raise ValueError(
            f"Cannot save a checkpoint to {str(target)!r}: it is a symbolic link. Pass the "
            "directory it points to, or a new path."
        )
    if not target.exists():
        return None
    if not target.is_dir():
        raise ValueError(f"Cannot save a checkpoint to {str(target)!r}: it is a file.")
    try:
        foreign = foreign_entries(target) if os.listdir(target) else []
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return None  # a concurrent save moved it aside meanwhile: as if it were new
    if foreign:
        shown = ", ".join(foreign[:10]) + (f", ... (+{len(foreign) - 10} more)" if len(foreign) > 10 else "")
        raise ValueError(
            f"Refusing to overwrite {str(target)!r}: it holds files that are not part of an "
            f"rlmodule-core checkpoint ({shown}), which a save would delete. Choose a new or "
            "empty directory, or move those files out."
        )
    return mode


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yields a sibling temporary directory that replaces ``target`` on success.

    ``target`` must be missing, empty, or a checkpoint of this format holding exactly
    the files its metadata lists; anything else is refused and nothing is deleted. The
    new directory keeps the permissions of the one it replaces (new ones follow the
    umask). On failure the temporary directory is removed and the target is untouched.
    Durability, no more than it needs: every file's data is fsynced once, after all are
    written and before the swap, and the parent directory after it, so the checkpoint
    survives a crash once this returns. (The first fsync commits the file system's
    journal with every file and name created so far; the later ones find little left.)
    Only then is the replaced checkpoint deleted.

    Raises:
        ValueError: the target is a file, a symbolic link, or a directory holding other
            files (the message lists them); nothing was written or deleted.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(target)
    mode = _check_target(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, _umask_mode() if mode is None else mode)
        _sync_files(tmp)
        replaced = _swap_in(tmp, target)
        _sync_directory(target.parent)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sync_files(directory: Path) -> None:
    """fsyncs the data of every file under ``directory``."""
    flags = os.O_RDWR if os.name == "nt" else os.O_RDONLY  # Windows flushes only writable handles
    for root, _, names in os.walk(directory):
        for name in names:
            fd = os.open(os.path.join(root, name), flags)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _sync_directory(directory: Path) -> None:
    """Makes a rename in ``directory`` durable (where the OS can sync a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # Windows opens no directory; NTFS journals the rename itself
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_in(tmp: Path, target: Path) -> Path | None:
    """Puts ``tmp`` at ``target``; returns the replaced directory's new path, if any.

    Concurrent saves to one path race here: each attempt either wins or sees the other's
    result and tries again, so the last save's checkpoint ends at the path.
    """
    for _ in range(_SWAP_ATTEMPTS):
        if not target.exists():
            try:
                os.rename(tmp, target)  # replaces only a missing or empty directory
                return None
            except OSError as err:
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    raise
                continue
        # Readers of the current checkpoint hold a shared lock on it: wait for them.
        with _locked(target, exclusive=True) as fd:
            if fd is None:
                continue
            try:
                if _exchange(tmp, target):
                    return tmp  # tmp's path now holds the old checkpoint
            except FileNotFoundError:
                continue
            old = target.parent / f".{target.name}.old-{os.getpid()}-{os.urandom(4).hex()}"
            try:
                os.rename(target, old)
            except FileNotFoundError:
                continue
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                os.rename(old, target)
                raise
            # Another save got in between: its checkpoint replaced the one set aside.
            shutil.rmtree(old, ignore_errors=True)
            continue
        return old
    raise CheckpointError(
        f"Could not save to {str(target)!r}: other processes kept replacing it "
        f"({_SWAP_ATTEMPTS} attempts). Save to separate paths."
    )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _save_in_progress(target: Path) -> bool:
    prefix = f".{target.name}."
    with contextlib.suppress(OSError):
        return any(name.startswith(prefix) for name in os.listdir(target.parent))
    return False


@contextlib.contextmanager
def _locked(directory: Path, exclusive: bool) -> Iterator[int | None]:
    """An fd of ``directory`` holding a shared (readers) or exclusive (a swap) flock; None if gone."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield None
        return
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _rename_paths(err: BaseException, view: Path, directory: Path) -> None:
    """Messages name the user's path, not the descriptor path the read went through."""
    if view != directory and err.args and isinstance(err.args[0], str):
        err.args = (err.args[0].replace(str(view), str(directory)), *err.args[1:])


def read_consistently(directory: Path, read: Callable[[Path], T]) -> T:
    """Runs ``read(path)`` on one consistent checkpoint while others may replace it.

    The reader holds a shared lock on the directory it opened (a save swaps only under
    an exclusive one) and, where the OS shows open descriptors as paths
    (``/proc/self/fd``), reads every file through that very directory, so a concurrent
    save cannot mix old and new files. When the checkpoint was replaced before the lock
    was taken (or, elsewhere, during the read), the read starts again, a bounded number
    of times; an error of a checkpoint that did not change is raised at once.
    """
    directory = Path(directory).absolute()
    for attempt in range(_READ_ATTEMPTS):
        last = attempt == _READ_ATTEMPTS - 1
        with _locked(directory, exclusive=False) as fd:
            if fd is None:
                if not last and _save_in_progress(directory):
                    time.sleep(_READ_PAUSE_S)
                    continue
                return read(directory)  # the reader reports the missing checkpoint itself
            info = os.fstat(fd)
            opened = (info.st_dev, info.st_ino)
            if _identity(directory) != opened and not last:
                continue  # swapped between open and lock: open the new one
            view = Path(f"/proc/self/fd/{fd}") if _PROC_FD else directory
            try:
                return read(view)
            except BaseException as err:
                _rename_paths(err, view, directory)
                if last or not isinstance(err, CheckpointError) or _identity(directory) == opened:
                    raise
    raise AssertionError("unreachable")
