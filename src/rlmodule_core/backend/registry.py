"""The backend registry: names, aliases, lazy import, framework resolution.

Backends are found in three places, in this order of precedence: backends registered
at run time with ``register_backend``, the entry-point group
``rlmodule_core.backends`` (how a third-party backend package announces itself), and
the four built-in backends. Nothing is imported until ``get_backend`` asks for it,
so ``import rlmodule_core`` never imports a framework.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

__all__ = [
    "available_backends",
    "canonical_name",
    "DEFAULT_FRAMEWORK",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "get_backend",
    "ops_for_tensor",
    "register_backend",
    "resolve_framework",
]

if TYPE_CHECKING:
    from rlmodule_core.backend import Backend

ENV_VAR = "RLMODULE_FRAMEWORK"
DEFAULT_FRAMEWORK = "torch"
ENTRY_POINT_GROUP = "rlmodule_core.backends"


@dataclass
class _Entry:
    name: str
    target: Any  # "module:attr" or a Backend instance
    aliases: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    extra: str | None = None
    backend: Backend | None = field(default=None, repr=False)


_BUILTINS = (
    _Entry("numpy", "rlmodule_numpy:backend", ("np",), ("numpy",), None),
    _Entry("torch", "rlmodule_torch:backend", ("pytorch",), ("torch",), "torch"),
    _Entry("tf", "rlmodule_tf:backend", ("tensorflow", "tf2", "keras"), ("tensorflow",), "tf"),
    _Entry("jax", "rlmodule_jax:backend", ("flax",), ("jax", "flax"), "jax"),
    # Export only: neutral modules traced into ONNX graphs (rlmodule_core.export_onnx).
    _Entry("onnx", "rlmodule_onnx:backend", (), ("onnx",), "onnx"),
)

_lock = threading.RLock()
_entries: dict[str, _Entry] = {}
_aliases: dict[str, str] = {}
_discovered = False


def _add(entry: _Entry) -> None:
    _entries[entry.name] = entry
    _aliases[entry.name] = entry.name
    for alias in entry.aliases:
        _aliases[alias] = entry.name


def _discover() -> None:
    """Fills the table once: built-ins, then entry points (which may add new names)."""
    global _discovered
    if _discovered:
        return
    with _lock:
        if _discovered:
            return
        for entry in _BUILTINS:
            _add(_Entry(entry.name, entry.target, entry.aliases, entry.requires, entry.extra))
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name not in _entries:
                _add(_Entry(ep.name, ep.value))
        _discovered = True


def canonical_name(name: str) -> str:
    """Returns the canonical backend name for ``name`` or an alias of it.

    Raises:
        ValueError: ``name`` is no known backend or alias.
    """
    _discover()
    if not isinstance(name, str):
        raise ValueError(
            f"Expected the framework as a string such as 'torch'; received {name!r} "
            f"({type(name).__name__})."
        )
    key = name.strip().lower()
    if key not in _aliases:
        known = ", ".join(
            f"{e.name!r}" + (f" (aliases {', '.join(map(repr, e.aliases))})" if e.aliases else "")
            for e in _entries.values()
        )
        raise ValueError(
            f"Unknown framework {name!r}. Expected one of: {known}. "
            "Register a custom backend with rlmodule_core.register_backend()."
        )
    return _aliases[key]


def get_backend(name: str) -> Backend:
    """Returns the backend object for ``name`` (or an alias), importing it on first use.

    Example:
        >>> import rlmodule_core as rlm
        >>> rlm.get_backend("pytorch").name
        'torch'

    Raises:
        ValueError: unknown name.
        ImportError: the backend's framework is not installed (the message names the
            pip extra that installs it).
        BackendContractError: the backend lacks or misnames part of the contract
            (a ``TypeError``; the message lists every problem).
    """
    canonical = canonical_name(name)
    entry = _entries[canonical]
    if entry.backend is not None:
        return entry.backend
    with _lock:
        if entry.backend is None:
            entry.backend = _load(entry)
    return entry.backend


def _load(entry: _Entry) -> Backend:
    from rlmodule_core.backend import Backend

    target = entry.target
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            missing = [m for m in entry.requires if importlib.util.find_spec(m) is None]
            if entry.extra and (missing or err.name in entry.requires):
                raise ImportError(
                    f"The {entry.name!r} backend needs {', '.join(entry.requires)}, "
                    f"which is not installed (missing: {', '.join(missing) or err.name}). "
                    f'Install it with: pip install "rlmodule-core[{entry.extra}]"'
                ) from err
            raise
        target = getattr(module, attr or "backend")
    elif callable(target) and not isinstance(target, Backend):
        target = target()
    if not isinstance(target, Backend):
        raise TypeError(
            f"Backend {entry.name!r} must resolve to a rlmodule_core.backend.Backend "
            f"instance; received {type(target).__name__}."
        )
    # Names and signatures only (about a millisecond); the shipped conformance suite
    # checks the values.
    from rlmodule_core.backend.contract import BackendContractError, check_backend

    problems = check_backend(target)
    if problems:
        raise BackendContractError(
            f"Backend {entry.name!r} ({target!r}) does not meet the backend contract "
            "(rlmodule_core.backend.contract, docs/writing-a-backend.md):\n  - "
            + "\n  - ".join(problems)
        )
    return target


def register_backend(
    name: str,
    target: Any,
    *,
    aliases: tuple[str, ...] | list[str] = (),
    requires: tuple[str, ...] | list[str] = (),
    extra: str | None = None,
    override: bool = False,
) -> None:
    """Registers a backend under ``name``.

    Args:
        name: the canonical name (lower case).
        target: a ``Backend`` instance, a ``"module:attribute"`` string naming one (imported
            lazily), or a zero-argument callable returning one.
        aliases: other names that select it.
        requires: top-level modules it needs; used by ``available_backends``.
        extra: the pip extra that installs its framework, for error messages.
        override: replace an existing backend of that name.

    Example:
        >>> rlm.register_backend("mybackend", "my_pkg.backend:backend", aliases=("mb",))
    """
    _discover()
    key = name.strip().lower()
    with _lock:
        taken = [n for n in (key, *aliases) if n in _aliases and _aliases[n] != key]
        if (key in _entries or taken) and not override:
            raise ValueError(
                f"A backend is already registered as {', '.join(taken) or key!r}. "
                "Pass override=True to replace it."
            )
        if override:
            for alias, target_name in list(_aliases.items()):
                if alias in (key, *aliases) or target_name == key:
                    del _aliases[alias]
        _add(_Entry(key, target, tuple(aliases), tuple(requires), extra))


def available_backends() -> list[str]:
    """The canonical names of the backends whose frameworks are installed.

    Checks with ``importlib.util.find_spec``; nothing is imported.
    """
    _discover()
    names = []
    for entry in _entries.values():
        if entry.backend is not None:
            names.append(entry.name)
            continue
        module_name = entry.target.partition(":")[0] if isinstance(entry.target, str) else None
        needed = list(entry.requires) + ([module_name] if module_name else [])
        if all(importlib.util.find_spec(m) is not None for m in needed):
            names.append(entry.name)
    return names


def resolve_framework(framework: str | None, module_class: type | None = None) -> str:
    """Chooses the framework for a build (DESIGN.md section 3).

    Order: the explicit ``framework``; the class itself when it is a backend class; the
    ``RLMODULE_FRAMEWORK`` environment variable; ``"torch"``.

    Raises:
        ValueError: ``framework`` contradicts a backend class, or is unknown.
    """
    class_backend = getattr(module_class, "_backend_name", None)
    if framework is not None:
        chosen = canonical_name(framework)
        if class_backend is not None and class_backend != chosen:
            raise ValueError(
                f"framework={framework!r} contradicts module_class "
                f"{module_class.__qualname__}, which is a {class_backend!r} module. Remove "
                f"framework= or set it to {class_backend!r}, or write the module against "
                "the neutral RLModule base to run it anywhere."
            )
        return chosen
    if class_backend is not None:
        return class_backend
    env = os.environ.get(ENV_VAR)
    if env:
        return canonical_name(env)
    return DEFAULT_FRAMEWORK


def ops_for_tensor(x: Any):
    """Returns the ``ops`` namespace of the backend whose tensor type ``x`` is.

    Matches the top-level module of ``type(x)`` (``torch``, ``tensorflow``, ``jax``/
    ``jaxlib``) against each backend's framework, so a tensor made before its backend
    was loaded still finds it. NumPy arrays and Python numbers map to NumPy ops.
    """
    _discover()
    root = type(x).__module__.partition(".")[0]
    if root == "jaxlib":
        root = "jax"
    if root not in ("numpy", "builtins"):
        for entry in _entries.values():
            if root in entry.requires:
                return get_backend(entry.name).ops
        for entry in _entries.values():
            if entry.backend is not None and entry.backend.is_tensor(x):
                return entry.backend.ops
    return get_backend("numpy").ops
