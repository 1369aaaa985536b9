"""Checkpoints: a directory of JSON metadata and safetensors state, written atomically.

Layout of one module's checkpoint (docs/checkpoint-format.md has the full format)::

    path/
      metadata.json             format, versions, framework, class path, constructor
                                arguments (spaces as JSON), sha256 of every file, and a
                                sha256 of the metadata itself
      module_state.safetensors  the flat state {dotted.path: array}

A MultiRLModule writes its own ``metadata.json`` and one such sub-directory per module
ID. Nothing is pickled. A save goes into a sibling temporary directory that is renamed
into place, so an interrupted save never leaves a checkpoint that restores.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import math
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlmodule_core._version import __version__

if TYPE_CHECKING:
    from rlmodule_core.rl_module import RLModule

FORMAT_NAME = "rlmodule-core/checkpoint"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
STATE_FILE = "module_state.safetensors"
_HASH_FIELD = "metadata_sha256"


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, corrupted or of an unknown format."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's file is missing, altered or truncated (its checksum does not hold)."""


# ---- class paths ----------------------------------------------------------------------


def class_path(cls: type) -> str:
    """``"package.module:Qual.Name"`` of the neutral class behind ``cls``."""
    cls = getattr(cls, "_neutral_class", None) or cls
    return f"{cls.__module__}:{cls.__qualname__}"


def importable(path: str, cls: type | None = None) -> bool:
    """Whether ``path`` imports (and, if given, resolves to ``cls``)."""
    try:
        found = import_class(path)
    except (ImportError, ValueError):
        return False
    return cls is None or found is (getattr(cls, "_neutral_class", None) or cls)


def import_class(path: str) -> type:
    """Imports ``"package.module:Qual.Name"``.

    Raises:
        ValueError: the class cannot be imported (defined in ``__main__``, inside a
            function, or its module is gone); the message says how to override it.
    """
    module_name, _, qualname = path.partition(":")
    hint = (
        f"The checkpoint's module class {path!r} cannot be imported. Classes defined in "
        "__main__ or inside a function are not importable: move the class into a module, "
        "or pass module_class=YourClass to from_checkpoint()."
    )
    if module_name == "__main__" or "<locals>" in qualname or not qualname:
        raise ValueError(hint)
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{hint} ({err})") from err
    if not isinstance(obj, type):
        raise ValueError(f"{path!r} is not a class; received {type(obj).__name__}.")
    return obj


# ---- JSON -----------------------------------------------------------------------------


def to_json_value(value: Any, where: str) -> Any:
    """A strict-JSON copy of ``value`` (tuples become lists) or ValueError naming the key."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise ValueError(
                f"{where} is {value!r}, which strict JSON cannot hold. Use a finite number."
            )
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has a non-string key {key!r}; JSON keys must be strings.")
            out[key] = to_json_value(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        return [to_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ValueError(
        f"{where} is a {type(value).__name__} ({value!r:.60}), which cannot be saved as JSON. "
        "Expected JSON types (dict, list, str, int, float, bool, None); give initializers "
        "and activations by name."
    )


def _canonical(metadata: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in metadata.items() if k != _HASH_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _sha256_file(path: Path, *, sync: bool = False) -> str:
    """The file's sha256; ``sync`` also flushes it to disk (for files just written)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
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
        name: known[name] if name in known else _sha256_file(directory / name, sync=True)
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
    """Reads and (by default) verifies a checkpoint directory's metadata.

    Raises:
        CheckpointError: the path is no checkpoint, or a file is missing or altered;
            the message names the file.
    """
    directory = Path(directory)
    meta_path = directory / METADATA_FILE
    if not directory.exists():
        raise CheckpointError(f"No checkpoint at {str(directory)!r}: the path does not exist.")
    if not meta_path.is_file():
        raise CheckpointError(
            f"{str(directory)!r} is not an rlmodule-core checkpoint: it has no {METADATA_FILE}. "
            "Pass the directory that save_to_path() returned."
        )
    try:
        metadata = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptCheckpointError(f"{meta_path} is corrupted: not valid JSON ({err}).") from err
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{meta_path} is not rlmodule-core checkpoint metadata (expected format "
            f"{FORMAT_NAME!r}, received {metadata.get('format') if isinstance(metadata, dict) else metadata!r:.60})."
        )
    if metadata.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path} has format version {metadata.get('format_version')}; this "
            f"rlmodule-core ({__version__}) reads up to {FORMAT_VERSION}. Upgrade rlmodule-core."
        )
    if verify:
        verify_checkpoint(directory, metadata)
    return metadata


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
        file = directory / name
        if not file.is_file():
            raise CorruptCheckpointError(f"Checkpoint file {file} is missing.")
        if _sha256_file(file) != expected:
            raise _corrupt(file)


def _corrupt(file: Path) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f"Checkpoint file {file} is corrupted or truncated: its sha256 does not match "
        f"{METADATA_FILE}. Re-save the checkpoint."
    )


# ---- atomic directories ---------------------------------------------------------------


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


# ---- state files ----------------------------------------------------------------------


def save_state_file(path: Path, state: Mapping[str, Any]) -> str:
    """Writes ``state`` as a safetensors file (fsynced) and returns its sha256 (hex)."""
    from rlmodule_core import _safetensors

    return _safetensors.write(path, state)


def load_state_file(path: Path, *, sha256: str | None = None) -> dict[str, np.ndarray]:
    """Reads a safetensors state file; with ``sha256``, first checks the file against it.

    Raises:
        CorruptCheckpointError: the file is missing, altered (sha256) or malformed.
    """
    from rlmodule_core import _safetensors

    if not path.is_file():
        raise CorruptCheckpointError(f"Checkpoint file {path} is missing.")
    try:
        state, digest = _safetensors.read(path)
    except (OSError, _safetensors.SafetensorsError) as err:
        if sha256 is not None and _sha256_file(path) != sha256:
            raise _corrupt(path) from err
        raise CorruptCheckpointError(f"Checkpoint file {path} cannot be read: {err}") from err
    if sha256 is not None and digest != sha256:
        raise _corrupt(path)
    return state


# ---- the mixin ------------------------------------------------------------------------


class Checkpointable:
    """Saving to and restoring from a checkpoint directory.

    Example:
        >>> path = module.save_to_path("/tmp/ckpt")
        >>> same = RLModule.from_checkpoint(path)                     # recorded framework
        >>> on_numpy = RLModule.from_checkpoint(path, framework="numpy")
        >>> module.restore_from_path(path)                            # weights only
    """

    def save_to_path(
        self, path: str | os.PathLike | None = None, *, state: Mapping[str, Any] | None = None
    ) -> str:
        """Writes a checkpoint atomically and returns its path.

        Args:
            path: the directory (created or replaced). None writes into a new temporary one.
            state: save this state instead of ``self.get_state()``.
        """
        target = Path(path) if path is not None else Path(tempfile.mkdtemp(prefix="rlmodule-"))
        with atomic_directory(target) as tmp:
            self._write_checkpoint(tmp, state)
        return str(target.absolute())

    def restore_from_path(self, path: str | os.PathLike, *, component: str | None = None) -> None:
        """Loads weights from a checkpoint into this object (strict; changes nothing on error).

        Args:
            component: restore only this part: a dotted attribute prefix of a module, or a
                module ID of a MultiRLModule.
        """
        self._restore_checkpoint(Path(path), component)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **overrides: Any) -> Any:
        """Builds a new object from a checkpoint and loads its weights.

        Args:
            path: a directory written by ``save_to_path``.
            **overrides: ``framework`` (restore on another backend; default: the recorded
                one), ``module_class`` (use this class instead of the recorded import path),
                ``inference_only`` / ``learner_only`` (build a slimmer variant).

        Raises:
            CheckpointError: missing, corrupted or foreign checkpoint (names the file).
            ValueError: the stored class is not ``cls`` or a subclass, or cannot be imported.
        """
        from rlmodule_core import _restore

        return _restore.load(Path(path), cls, **overrides)

    def _write_checkpoint(self, directory: Path, state: Mapping[str, Any] | None) -> None:
        raise NotImplementedError

    def _restore_checkpoint(self, directory: Path, component: str | None) -> None:
        raise NotImplementedError


def module_metadata(module: RLModule, kind: str) -> dict[str, Any]:
    """The metadata fields shared by single and multi checkpoints (without checksums)."""
    from rlmodule_core.spaces import space_to_json

    cls = type(module)
    path = class_path(cls)
    if not importable(path, cls):
        warnings.warn(
            f"The module class {path!r} cannot be imported (defined in __main__ or inside a "
            "function?). The checkpoint is written, but from_checkpoint() will need "
            "module_class= to restore it. Move the class into a module to avoid this.",
            stacklevel=4,
        )
    fields = module._rlm
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "kind": kind,
        "framework": module.framework,
        "class": path,
        "ctor": {
            "observation_space": None
            if fields.observation_space is None
            else space_to_json(fields.observation_space),
            "action_space": None if fields.action_space is None else space_to_json(fields.action_space),
            "inference_only": fields.inference_only,
            "learner_only": fields.learner_only,
            "model_config": to_json_value(fields.model_config, "model_config"),
        },
    }
