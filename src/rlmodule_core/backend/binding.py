"""Turning a neutral class into its composed backend class at construction time.

Shared by ``RLModule`` and ``Block``: constructing a neutral class directly (``MyModule(...)``)
builds the composed class for the backend in scope, exactly as a spec would.
"""

from __future__ import annotations

from typing import Any

from rlmodule_core.backend import registry
from rlmodule_core.backend.scope import current_scope

__all__ = ["construct_bound", "cooperative_new", "framework_in_scope", "reduce_bound", "SKIP_INIT"]

# Set on an instance built through the redirect, so the second ``__init__`` that Python
# makes on it (the returned object is an instance of the class called) does nothing.
SKIP_INIT = "_rlm_skip_init"


def framework_in_scope(cls: type) -> str:
    """The framework a neutral class constructed right now binds to.

    Inside a module's ``setup()`` it is that module's backend; otherwise the
    resolution order of DESIGN.md section 3 (environment variable, then torch).
    """
    scope = current_scope()
    if scope is not None and scope.backend is not None:
        return scope.backend
    return registry.resolve_framework(None, cls)


def construct_bound(cls: type, args: tuple, kwargs: dict[str, Any]) -> Any:
    """Builds the composed class of neutral ``cls`` and marks the result initialized."""
    bound = registry.get_backend(framework_in_scope(cls)).bind(cls)
    obj = bound(*args, **kwargs)
    obj.__dict__[SKIP_INIT] = True
    return obj


def cooperative_new(owner: type, cls: type, args: tuple, kwargs: dict[str, Any]) -> Any:
    """Calls the next ``__new__`` after ``owner`` in ``cls``'s MRO (Keras defines one)."""
    nxt = super(owner, cls).__new__
    if nxt is object.__new__:
        return nxt(cls)
    return nxt(cls, *args, **kwargs)


def reduce_bound(obj: Any, protocol: int) -> tuple:
    """Pickle support for instances of composed classes, which are not importable.

    The class is re-created on load from its neutral class and backend name.
    """
    reduced = object.__reduce_ex__(obj, protocol)
    # object.__reduce_ex__ gives (copyreg.__newobj__, (cls, *args), state, ...).
    _, newobj_args, *rest = reduced
    return (_rebuild, (type(obj)._neutral_class, type(obj)._backend_name), *rest)


def _rebuild(neutral_cls: type, backend_name: str) -> Any:
    bound = registry.get_backend(backend_name).bind(neutral_cls)
    return bound.__new__(bound)
