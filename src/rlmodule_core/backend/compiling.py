"""What every backend's ``compile`` shares: option checks and side-effect detection.

Option checks: each backend names the options its ``compile`` takes; ``check_options``
refuses the others with one message format on every backend.

Side effects: a compiled forward pass (``jax.jit``, ``tf.function``) runs the module's
Python code only while tracing. An attribute assignment in ``_forward`` (``self.last =
...``) would then happen once, on a copy, or with a symbolic tensor that fails later. A
backend that traces raises ``ForwardSideEffect`` from its module's ``__setattr__``
while tracing, and on catching it runs that module eagerly from then on, with the one
warning ``warn_side_effect`` writes. Nothing is checked on the call path itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["ForwardSideEffect", "check_options", "side_effect_message", "warn_side_effect"]


def check_options(backend: str, options: Mapping[str, Any], known: Mapping[str, str]) -> None:
    """Refuses ``compile`` options that ``backend`` does not take.

    Args:
        backend: the backend's canonical name, for the message.
        options: the keyword arguments ``compile`` received.
        known: option name -> what it does (empty: the backend takes no options).

    Raises:
        TypeError: an unknown option (the message lists the known ones).

    Example:
        >>> check_options("tf", {"jit_compile": True}, {"jit_compile": "XLA, default False"})
    """
    unknown = sorted(set(options) - set(known))
    if not unknown:
        return
    if not known:
        raise TypeError(
            f"The {backend} backend's compile takes no options (it runs eagerly); received "
            f"unknown options {unknown}. Call compile(module) without them."
        )
    described = "; ".join(f"{name} ({what})" for name, what in known.items())
    raise TypeError(
        f"The {backend} backend's compile got unknown options {unknown}. Expected any of "
        f"{sorted(known)}: {described}."
    )


class ForwardSideEffect(Exception):
    """Raised inside a trace when a forward pass assigns an attribute of its module."""

    def __init__(self, module_type: type, attribute: str) -> None:
        super().__init__(f"{module_type.__qualname__} assigns self.{attribute} in a forward pass")
        self.module_type = module_type
        self.attribute = attribute


def side_effect_message(err: ForwardSideEffect, phase: str, compiler: str, eager_hint: str) -> str:
    """The warning text: what was found, what happens now, how to compile, how to opt out."""
    name = err.module_type.__qualname__
    return (
        f"{name}.{phase} assigns self.{err.attribute} during a forward pass. Under {compiler} "
        "Python code runs only while tracing, so that assignment would be lost or hold a "
        f"symbolic tensor: {name} now runs its forward passes eagerly (slower). To compile it, "
        "keep forward passes free of attribute assignments (return such values in the output "
        f"dict); to run it eagerly without this warning, turn compilation off: {eager_hint}."
    )


def warn_side_effect(err: ForwardSideEffect, phase: str, compiler: str, eager_hint: str, stacklevel: int) -> None:
    """Emits the side-effect warning (a ``RuntimeWarning``) once for the module."""
    warnings.warn(side_effect_message(err, phase, compiler, eager_hint), RuntimeWarning, stacklevel=stacklevel + 1)
