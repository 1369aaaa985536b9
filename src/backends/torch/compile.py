"""``torch.compile`` for the forward passes of a module, keeping state sync intact."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from rlmodule_core.backend.compiling import check_options

from .module import COMPILED_ATTRIBUTES, TorchRLModule

__all__ = ["compile_module", "OPTIONS"]

#: The options compile takes: those of ``torch.compile`` (read from its signature).
OPTIONS = {
    name: "a torch.compile argument"
    for name in inspect.signature(torch.compile).parameters
    if name != "model"
}


def compile_module(module: Any, **options: Any) -> Any:
    """Compiles ``module``'s ``_forward_inference/_exploration/_train`` with ``torch.compile``.

    The compiled functions are set on the instance, so ``forward_*`` keep their mode
    switching and input conversion, the module stays the same ``nn.Module`` (no
    ``_orig_mod.`` prefixes in ``state_dict``), and ``set_state`` (an in-place copy into
    the parameters the graphs read) changes the compiled outputs. ``options`` go to
    ``torch.compile`` (``mode=``, ``dynamic=``, ``fullgraph=``, ``backend=``, ...).
    Compiling again replaces the previous compilation. A MultiRLModule compiles each
    of its modules. Pickled or deep-copied modules run eagerly.

    Example:
        >>> module = backend.compile(module, mode="reduce-overhead")

    Raises:
        TypeError: ``module`` is no torch module, or an option ``torch.compile`` does not take.
    """
    check_options("torch", options, OPTIONS)
    if getattr(module, "_is_container", False):
        for sub in module.values():
            compile_module(sub, **options)
        return module
    if not isinstance(module, TorchRLModule):
        raise TypeError(
            f"The torch backend compiles TorchRLModules; received {type(module).__name__}. "
            "Build the module with framework='torch'."
        )
    for name in COMPILED_ATTRIBUTES:
        # The class's method, not an earlier compiled one, so recompiling never nests.
        original = getattr(type(module), name).__get__(module)
        module.__dict__[name] = torch.compile(original, **_fresh(options))
    return module


def _fresh(options: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` per ``torch.compile`` call: it pops keys (``guard_filter_fn``)
    from the nested ``options`` dict, so a shared one would reach only the first phase."""
    if isinstance(options.get("options"), dict):
        return {**options, "options": dict(options["options"])}
    return options
