"""Saving modules to checkpoint directories and building modules from them.

The file format lives in ``rlmodule_core.checkpoint`` (a leaf package that knows no
module class); this module connects it to ``RLModule`` and ``MultiRLModule``: the
``Checkpointable`` mixin, the metadata that describes a module, and ``from_checkpoint``.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlmodule_core._version import __version__
from rlmodule_core.backend import registry
from rlmodule_core.backend.scope import skip_initialization
from rlmodule_core.checkpoint import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_FILE,
    CheckpointError,
    atomic_directory,
    check_sizes,
    class_path,
    inside,
    read_consistently,
    read_metadata,
    read_state_header,
    resolve_class,
    to_json_value,
    verify_metadata,
)
from rlmodule_core.spaces import space_from_json, space_to_json

if TYPE_CHECKING:
    from rlmodule_core.rl_module import RLModule

__all__ = ["Checkpointable", "NotPortableError", "check_portable", "load", "module_metadata"]

_OVERRIDES = ("framework", "module_class", "inference_only", "learner_only", "trust_code")


def load(path: Path, expected_cls: type, **overrides: Any) -> Any:
    """Builds the checkpoint's module (or MultiRLModule) and loads its state.

    Retried as a whole when a concurrent save replaces the checkpoint meanwhile.
    """
    unknown = sorted(set(overrides) - set(_OVERRIDES))
    if unknown:
        raise TypeError(
            f"from_checkpoint() got unexpected arguments {unknown}. Expected any of {list(_OVERRIDES)}."
        )
    trust_code = overrides.get("trust_code", False)
    if not isinstance(trust_code, bool):
        raise TypeError(f"trust_code must be True or False; received {trust_code!r}.")
    if overrides.get("framework") is not None:
        registry.canonical_name(overrides["framework"])  # a usage error, before any reading
    return read_consistently(path, lambda view: _load(view, expected_cls, overrides))


def _load(path: Path, expected_cls: type, overrides: dict[str, Any]) -> Any:
    # Only the metadata's own checksum here: the files are verified as the state is loaded
    # below (restoring verifies everything), so no file is hashed twice.
    metadata = read_metadata(path, verify=False)
    verify_metadata(path, metadata)
    kind = metadata["kind"]
    if kind not in ("rl_module", "multi_rl_module"):
        raise CheckpointError(
            f"{path / METADATA_FILE} holds a {kind} checkpoint, not a module; a learner "
            "checkpoint keeps its module in the 'module' sub-directory."
        )
    stored = overrides.get("module_class") or resolve_class(
        metadata["class"], trust_code=overrides.get("trust_code", False)
    )
    wanted = getattr(expected_cls, "_neutral_class", None) or expected_cls
    stored_neutral = getattr(stored, "_neutral_class", None) or stored
    if not (isinstance(stored_neutral, type) and issubclass(stored_neutral, wanted)):
        raise ValueError(
            f"The checkpoint at {str(path)!r} holds a {metadata['class']}, which is not a "
            f"{wanted.__qualname__} (or subclass). Call {getattr(stored_neutral, '__qualname__', stored_neutral)}"
            ".from_checkpoint() or RLModule.from_checkpoint() instead."
        )
    _check_state_backs_metadata(path, metadata)
    # Every parameter is overwritten by the strict restore that follows: skip drawing
    # random initial weights (orthogonal init of a 2048x2048 kernel alone takes ~0.1 s).
    try:
        with skip_initialization():
            if kind == "multi_rl_module":
                module = _build_multi(path, metadata, stored, overrides)
            else:
                module = _build_single(path, metadata, stored, overrides)
        module._restore_checkpoint(path, None)
    except (CheckpointError, NotPortableError):
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
        if overrides.get("module_class") is not None:
            raise  # the caller's class may be what does not fit
        # Everything the module was built from came from the file: a module that cannot be
        # built from it, or a state that does not fit it, is a bad checkpoint.
        detail = " ".join(str(err).split("\n"))[:500]
        raise CheckpointError(
            f"{path / METADATA_FILE}: the recorded {metadata['class']} cannot be rebuilt from "
            f"its metadata and state ({type(err).__name__}: {detail})"
        ) from err
    return module


class NotPortableError(ValueError):
    """A native module asked to restore on another framework (a usage error)."""


def _check_state_backs_metadata(path: Path, metadata: dict[str, Any]) -> int:
    """Checks spaces and layer sizes against the state files' headers; returns the elements.

    Reads only the headers (validated against the files' sizes), so a small checkpoint
    that describes a huge module is refused before the module is built.
    """
    meta_file = path / METADATA_FILE
    if metadata["kind"] == "rl_module":
        state = inside(path, metadata["state_file"], f"{meta_file}: field 'state_file'")
        elements = read_state_header(state).num_elements
    else:
        elements = 0
        for module_id in metadata["module_ids"]:
            sub = inside(path, module_id, f"{meta_file}: field 'module_ids'")
            sub_elements = _check_state_backs_metadata(sub, read_metadata(sub, verify=False))
            spec = metadata["modules"][module_id]
            check_sizes(
                {"observation_space": spec.get("observation_space"),
                 "action_space": spec.get("action_space"),
                 "model_config": spec.get("model_config") or {}},
                sub_elements, meta_file,
            )
            elements += sub_elements
    check_sizes(metadata["ctor"], elements, meta_file)
    return elements


def check_portable(module_class: type, recorded: str, framework: str | None) -> str:
    """The framework to build on; a native module may only go back to its own framework."""
    if framework is not None:
        target = registry.canonical_name(framework)
    else:
        try:
            target = registry.canonical_name(recorded)
        except ValueError as err:
            raise CheckpointError(f"The checkpoint records an unknown framework: {err}") from None
    native = getattr(module_class, "_backend_name", None)
    if native is not None and native != target:
        raise NotPortableError(
            f"{module_class.__qualname__} is a native {native!r} module (its layers are "
            f"{native}'s own), so its checkpoint cannot be restored on {target!r}. Restore it "
            f"with framework={native!r}, or write the module against the neutral RLModule base "
            "(self.nn / self.ops) so that it runs on every framework."
        )
    return target


def _build_single(path: Path, metadata: dict, module_class: type, overrides: dict) -> Any:
    # spec.py imports the module classes, which import this mixin: resolved at call time.
    from rlmodule_core.spec import RLModuleSpec

    ctor = metadata["ctor"]
    framework = check_portable(module_class, metadata["framework"], overrides.get("framework"))
    spec = RLModuleSpec(
        module_class=module_class,
        observation_space=_space(path, ctor, "observation_space"),
        action_space=_space(path, ctor, "action_space"),
        inference_only=_pick(overrides, "inference_only", ctor["inference_only"]),
        learner_only=_pick(overrides, "learner_only", ctor["learner_only"]),
        model_config=ctor["model_config"],
        framework=framework,
    )
    return spec.build()


def _build_multi(path: Path, metadata: dict, multi_class: type, overrides: dict) -> Any:
    # spec.py imports the module classes, which import this mixin: resolved at call time.
    from rlmodule_core.spec import RLModuleSpec

    ctor = metadata["ctor"]
    specs = {}
    for module_id in metadata["module_ids"]:
        try:
            spec = RLModuleSpec.from_dict(
                metadata["modules"][module_id], trust_code=overrides.get("trust_code", False)
            )
        except CheckpointError:
            raise
        except ValueError as err:
            raise CheckpointError(
                f"{path / METADATA_FILE}: field 'modules[{module_id!r}]' is invalid: {err}"
            ) from None
        spec.framework = check_portable(
            spec.module_class, spec.framework, overrides.get("framework")
        )
        for flag in ("inference_only", "learner_only"):
            if overrides.get(flag) is not None:
                setattr(spec, flag, overrides[flag])
        specs[module_id] = spec
    return multi_class(
        observation_space=_space(path, ctor, "observation_space"),
        action_space=_space(path, ctor, "action_space"),
        inference_only=_pick(overrides, "inference_only", ctor["inference_only"]),
        learner_only=_pick(overrides, "learner_only", ctor["learner_only"]),
        model_config=ctor["model_config"],
        rl_module_specs=specs,
    )


def _pick(overrides: dict, key: str, default: Any) -> Any:
    value = overrides.get(key)
    return default if value is None else value


def _space(path: Path, ctor: dict, name: str) -> Any:
    value = ctor[name]
    if value is None:
        return None
    try:
        return space_from_json(value)
    except ValueError as err:
        raise CheckpointError(f"{path / METADATA_FILE}: field 'ctor.{name}' is invalid: {err}") from None


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
        read_consistently(Path(path), lambda view: self._restore_checkpoint(view, component))

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **overrides: Any) -> Any:
        """Builds a new object from a checkpoint and loads its weights.

        Args:
            path: a directory written by ``save_to_path``.
            **overrides: ``framework`` (restore on another backend; default: the recorded
                one), ``module_class`` (use this class instead of the recorded class path),
                ``inference_only`` / ``learner_only`` (build a slimmer variant),
                ``trust_code`` (default False: a recorded class resolves only if it is
                registered, already imported, or part of rlmodule-core or a backend; True
                also imports the module the checkpoint names, for it and its sub-modules).

        Raises:
            CheckpointError: missing, corrupted, malformed or foreign checkpoint (names the
                file and field), or a recorded class that does not resolve without
                ``trust_code=True``.
            ValueError: the stored class is not ``cls`` or a subclass.
        """
        return load(Path(path), cls, **overrides)

    def _write_checkpoint(self, directory: Path, state: Mapping[str, Any] | None) -> str:
        """Writes the checkpoint's files into ``directory``; returns its metadata's digest."""
        raise NotImplementedError

    def _restore_checkpoint(
        self, directory: Path, component: str | None, expected: tuple[str, str] | None = None
    ) -> None:
        """Restores from ``directory``; ``expected`` is ``(algorithm, digest)`` of its
        ``metadata.json`` where a parent checkpoint lists it (checked as it is read)."""
        raise NotImplementedError


def module_metadata(module: RLModule, kind: str) -> dict[str, Any]:
    """The metadata fields shared by single and multi checkpoints (without checksums)."""
    cls = type(module)
    path = class_path(cls)
    if "<locals>" in path:
        warnings.warn(
            f"The module class {path!r} was defined inside a function, so it cannot be found "
            "by name. The checkpoint is written, but from_checkpoint() will need "
            "module_class= to restore it. Move the class to module level to avoid this.",
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
