"""The backend kit: the ``Backend`` contract, the registry, binding and the build scope.

The core reaches a framework only through a ``Backend`` found in the registry; nothing
here imports a framework.
"""

from rlmodule_core.backend.base import Backend
from rlmodule_core.backend.registry import available_backends, get_backend, register_backend

__all__ = ["Backend", "available_backends", "get_backend", "register_backend"]
