"""Cheaper child look-ups and calls for the library's own torch modules.

``torch.nn.Module`` finds a child module through ``__getattr__`` (a failed normal
look-up, then a Python call: ~0.4 us) and calls a module through two wrapper frames
(~0.3 us more than calling ``forward``). A neutral module nests blocks (the default PPO
module makes ~8 of each per forward pass), which at batch 1 costs ~30% of the raw
network's time. ``FastModule`` removes both costs for the library's classes
(neutral layers, blocks and ``TorchRLModule``) without changing torch semantics:

- Children of the library's classes (those whose class sets ``_rlm_mirrored``) are
  mirrored into the parent's instance ``__dict__`` (kept in sync by ``__setattr__``,
  ``__delattr__`` and ``add_module``), so normal attribute look-up finds them. Other
  children (``torch.nn.Linear``, ...) are not mirrored: torch utilities such as
  quantization swap those by writing ``_modules`` directly, and must keep working.
- ``__call__`` goes straight to ``forward`` unless something needs the full
  ``nn.Module.__call__``: a module or global hook, ``module.compile()``, TorchScript
  tracing, or ``torch.compile`` tracing (which then sees the standard call).

Both rely on torch internals. ``RLMODULE_TORCH_FASTPATH=0`` (read at import) turns them
off: every child is found through ``nn.Module.__getattr__`` and every call goes through
``nn.Module.__call__``, exactly as for any torch module (slower at small batches).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch.nn.modules import module as _torch_module

__all__ = ["ENABLED", "ENV_VAR", "FAST_CALLS", "FastModule"]

#: The environment variable that turns the fast path off ("0", "false", "no", "off").
ENV_VAR = "RLMODULE_TORCH_FASTPATH"


def _enabled_by_env() -> bool:
    value = os.environ.get(ENV_VAR, "1").strip().lower()
    if value in ("1", "true", "yes", "on", ""):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(
        f"{ENV_VAR}={value!r} is not understood. Expected 1/true/yes/on (the default) or "
        "0/false/no/off (use torch's standard module call and attribute look-up)."
    )


ENABLED = _enabled_by_env()

try:
    # The process-wide hook registries (dicts mutated in place by
    # torch.nn.modules.module.register_module_*_hook), read without copying.
    _G_FORWARD_PRE = _torch_module._global_forward_pre_hooks
    _G_FORWARD = _torch_module._global_forward_hooks
    _G_BACKWARD_PRE = _torch_module._global_backward_pre_hooks
    _G_BACKWARD = _torch_module._global_backward_hooks
    # torch.compiler.is_compiling() is ``not torch.jit.is_scripting() and
    # _is_compiling_flag``: two Python calls per module call, of which is_scripting is
    # always False outside TorchScript. The same answer in one call: Dynamo folds
    # is_dynamo_compiling() to True while it traces (so it never reads the flag, whose
    # value it would otherwise guard on), and the flag covers export and the rest.
    _is_dynamo_compiling = torch.compiler.is_dynamo_compiling
    _compiler = torch.compiler
    _compiler._is_compiling_flag  # noqa: B018 - fail here, not per call, if it is gone
    _tracing_state = torch._C._get_tracing_state
    FAST_CALLS = ENABLED
except AttributeError:  # a torch without these internals: always take the standard call
    FAST_CALLS = False


# torch.nn.Module, under a name of this module's own (see __call__); its __call__ is
# looked up on every call, so a patched nn.Module.__call__ (profilers) is honoured.
_Module = torch.nn.Module


def _mirror(module: torch.nn.Module, name: str) -> None:
    if not ENABLED:
        return
    modules = module.__dict__.get("_modules")
    if modules is None or name not in modules:
        return
    child = modules[name]
    if child is None or getattr(type(child), "_rlm_mirrored", False):
        module.__dict__[name] = child
    else:
        module.__dict__.pop(name, None)


class FastModule(torch.nn.Module):
    """A ``torch.nn.Module`` with direct child attributes and a short call path."""

    #: Parents may mirror instances of this class into their ``__dict__``.
    _rlm_mirrored = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Dynamo first: while it traces, the rest is never read, so a compiled graph
        # guards on none of it (the hook registries, read here and in torch under two
        # names, made Dynamo add a Python guard function run on every compiled call).
        if not FAST_CALLS or _is_dynamo_compiling():
            return _Module.__call__(self, *args, **kwargs)
        state = self.__dict__
        if (
            state["_forward_pre_hooks"]
            or state["_forward_hooks"]
            or state["_backward_pre_hooks"]
            or state["_backward_hooks"]
            or "_compiled_call_impl" in state  # set by module.compile()
            or _G_FORWARD_PRE
            or _G_FORWARD
            or _G_BACKWARD_PRE
            or _G_BACKWARD
            or _compiler._is_compiling_flag
            or _tracing_state()
        ):
            return _Module.__call__(self, *args, **kwargs)
        return self.forward(*args, **kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        torch.nn.Module.__setattr__(self, name, value)
        _mirror(self, name)

    def __delattr__(self, name: str) -> None:
        modules = self.__dict__.get("_modules")
        if modules is not None and name in modules:
            self.__dict__.pop(name, None)
        torch.nn.Module.__delattr__(self, name)

    def add_module(self, name: str, module: torch.nn.Module | None) -> None:
        torch.nn.Module.add_module(self, name, module)
        _mirror(self, name)
