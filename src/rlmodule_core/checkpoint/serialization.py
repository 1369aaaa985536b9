"""Class paths and strict JSON values: the leaf helpers of the metadata format."""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["class_path", "import_class", "importable", "to_json_value"]


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
