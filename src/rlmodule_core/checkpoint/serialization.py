"""Class paths and strict JSON values: the leaf helpers of the metadata format."""

from __future__ import annotations

import importlib
import math
import sys
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from rlmodule_core.checkpoint.errors import CheckpointError

__all__ = [
    "ENTRY_POINT_GROUP", "class_path", "register_module_class", "resolve_class",
    "to_json_value",
]


def class_path(cls: type) -> str:
    """``"package.module:Qual.Name"`` of the neutral class behind ``cls``."""
    cls = getattr(cls, "_neutral_class", None) or cls
    return f"{cls.__module__}:{cls.__qualname__}"


#: Entry-point group through which installed packages make their module classes restorable.
ENTRY_POINT_GROUP = "rlmodule_core.modules"
# Packages whose modules a checkpoint may name without further trust: this library and
# its backends (the built-in ones and those installed through the backends entry points).
_TRUSTED_PACKAGES = ("rlmodule_core", "rlmodule_numpy", "rlmodule_torch", "rlmodule_tf", "rlmodule_jax")
_BACKEND_GROUP = "rlmodule_core.backends"
_registered: dict[str, type] = {}
_lock = threading.Lock()


def register_module_class(cls: type, path: str | None = None) -> type:
    """Lets checkpoints that name ``cls`` restore it without importing anything.

    Usable as a class decorator. ``path`` registers the class under another recorded
    class path too (e.g. after the class moved to a new module).

    Example:
        >>> @register_module_class
        ... class MyPolicy(RLModule):
        ...     ...
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_module_class expects a class; received {type(cls).__name__}.")
    with _lock:
        _registered[class_path(cls)] = cls
        if path is not None:
            _registered[path] = cls
    return cls


def _entry_point_paths() -> set[str]:
    paths = {ep.value.replace(" ", "") for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return paths


def _trusted_module(module_name: str) -> bool:
    top = module_name.split(".")[0]
    if top in _TRUSTED_PACKAGES:
        return True
    backends = {ep.value.split(":")[0].split(".")[0] for ep in entry_points(group=_BACKEND_GROUP)}
    return top in backends


def _untrusted(path: str, reason: str) -> CheckpointError:
    return CheckpointError(
        f"The checkpoint names the class {path!r}, which {reason}. Restoring never imports "
        "code a checkpoint names. Fix: import your module before restoring (or register the "
        "class with rlmodule_core.checkpoint.register_module_class, or through the entry-point "
        f"group {ENTRY_POINT_GROUP!r}), pass module_class=YourClass, or pass trust_code=True "
        "(--trust-code on the command line) if you trust where the checkpoint came from."
    )


def resolve_class(path: str, *, trust_code: bool = False) -> type:
    """The class a checkpoint records as ``"package.module:Qual.Name"``, without running code.

    It resolves when the class is registered (``register_module_class`` or the entry
    points), when its module is already imported (``sys.modules``, the running script's
    ``__main__`` included), or when it belongs to rlmodule-core or an installed backend.
    Only ``trust_code=True`` imports any other module.

    Raises:
        CheckpointError: the class does not resolve; the message names it and the fixes.
    """
    module_name, _, qualname = path.partition(":")
    if path in _registered:
        return _registered[path]
    if "<locals>" in qualname or not qualname or not module_name:
        raise _untrusted(path, "was defined inside a function and can never be found by name")
    module = sys.modules.get(module_name)
    if module is None:
        if not (trust_code or _trusted_module(module_name) or path in _entry_point_paths()):
            reason = ("was defined in another script's __main__" if module_name == "__main__"
                      else f"lives in {module_name!r}, which is not imported")
            raise _untrusted(path, reason)
        if module_name == "__main__":
            raise _untrusted(path, "was defined in another script's __main__")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise _untrusted(path, f"cannot be imported ({err})") from err
    obj: Any = module
    try:
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise _untrusted(path, f"is not defined in {module_name!r}") from None
    if not isinstance(obj, type):
        raise _untrusted(path, f"is a {type(obj).__name__}, not a class")
    return obj


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
