"""Neutral composite layers ("blocks"), written once for every backend.

A block groups layers and the computation between them (an encoder, a head) without
naming a framework. Like a neutral RLModule it is bound to a backend when it is
constructed: inside a module's ``setup()`` it takes that module's backend, so its
parameters become the framework's parameters and appear in the module's state under
the attribute path of the block.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from rlmodule_core.backend import binding

__all__ = ["Block", "layer_dict"]


class Block(abc.ABC):  # noqa: B024 - subclasses must implement setup/forward, checked at call
    """Base class of neutral composite layers.

    Build sub-layers in ``setup(*args, **kwargs)`` with ``self.nn``; compute in
    ``forward``. Call the block like a function.

    Example:
        >>> class MLP(Block):
        ...     def setup(self, sizes, activation="tanh"):
        ...         self.net = self.nn.Sequential(
        ...             [self.nn.Dense(a, b, activation=activation) for a, b in zip(sizes, sizes[1:])]
        ...         )
        ...     def forward(self, x):
        ...         return self.net(x)
        >>> # inside an RLModule's setup():  self.encoder = MLP([4, 64, 64])
    """

    _backend_name: ClassVar[str | None] = None
    #: Read by Backend.bind: which backend base class composes with this class.
    _rlm_kind: ClassVar[str] = "block"
    _neutral_class: ClassVar[type | None] = None

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls._backend_name is None:
            return binding.construct_bound(cls, args, kwargs)
        return binding.cooperative_new(Block, cls, args, kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if self.__dict__.pop(binding.SKIP_INIT, False):
            return
        self._init_framework()
        self.setup(*args, **kwargs)

    def __reduce_ex__(self, protocol: int):
        if type(self)._neutral_class is not None:
            return binding.reduce_bound(self, protocol)
        return super().__reduce_ex__(protocol)

    def _init_framework(self) -> None:
        """Backends initialize their framework base here (before any attribute is set)."""

    def setup(self, *args: Any, **kwargs: Any) -> None:
        """Builds the sub-layers. Override it."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement setup().")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Computes the block's output. Override it."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement forward().")


def layer_dict(layers: Any) -> dict[str, Any]:
    """A copy of ``layers`` for an ``nn.Dict`` container, its keys checked.

    Keys become state-path segments (``name.<key>.kernel``), so they must be non-empty
    strings without '.'.

    Raises:
        ValueError: a key that cannot be a path segment.
    """
    layers = dict(layers or {})
    for key in layers:
        if not isinstance(key, str) or not key or "." in key:
            raise ValueError(
                f"Dict keys must be non-empty strings without '.'; received {key!r}. Rename the entry."
            )
    return layers
