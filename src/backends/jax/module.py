"""JaxRLModule: the RLModule base on JAX, a Flax NNX module.

A built module is an ``nnx.Module``: ``nnx.state``, ``nnx.split``/``nnx.merge``,
``nnx.jit``, ``nnx.value_and_grad`` and ``nnx.Optimizer`` work on it directly.
"""

from __future__ import annotations

import contextvars
import secrets
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from rlmodule_core.backend import tree
from rlmodule_core.backend.compiling import ForwardSideEffect
from rlmodule_core.backend.tree import map_leaves as _map_leaves
from rlmodule_core.rl_module import RLModule

from . import compile as _compile
from . import nn, ops
from . import state as _state

__all__ = ["convert_batch", "JaxRLModule", "setup_rngs"]


def _convert_leaf(leaf: Any) -> Any:
    if isinstance(leaf, np.ndarray):
        return jnp.asarray(leaf, dtype=jnp.float32 if leaf.dtype == np.float64 else None)
    return leaf


def convert_batch(batch: Any, module: Any = None) -> Any:
    """Converts the NumPy leaves of a (nested) batch to ``jax.Array``; float64 -> float32.

    Containers keep their types (``rlmodule_core.backend.tree``); returns the batch
    object itself when nothing needs converting (no copy on the hot path). ``module`` is
    not needed here; every backend's ``convert_batch`` takes it (torch places the leaves
    on the module's device).

    Example:
        >>> convert_batch({"obs": np.zeros(2)})["obs"].dtype
        dtype('float32')
    """
    return tree.map_leaves(_convert_leaf, batch, keep=jax.Array)


def _stop_leaf_gradient(leaf: Any) -> Any:
    # Concrete arrays carry no gradient to stop; only traced outputs need it.
    return jax.lax.stop_gradient(leaf) if isinstance(leaf, jax.core.Tracer) else leaf


def _stop_tracer_gradients(out: Any) -> Any:
    """``stop_gradient`` on traced outputs, the structure kept."""
    return tree.map_leaves(_stop_leaf_gradient, out)


# ---- seeded nnx.Rngs for native layers built in setup() -------------------------------------


class _SetupRngs:
    """The ``nnx.Rngs`` of one module build, created on first use."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self._rngs: nnx.Rngs | None = None

    def get(self) -> nnx.Rngs:
        if self._rngs is None:
            # Unseeded builds draw fresh entropy without touching the build's NumPy
            # generator, so neutral layers get the same weights with or without native ones.
            self._rngs = nnx.Rngs(self.seed if self.seed is not None else secrets.randbits(31))
        return self._rngs


_SETUP_RNGS: contextvars.ContextVar[_SetupRngs | None] = contextvars.ContextVar(
    "rlmodule_jax_setup_rngs", default=None
)


def setup_rngs(obj: Any, name: str) -> Any:
    """``__getattr__`` of JAX modules and blocks: ``self.rngs`` inside ``setup()``."""
    if name == "rngs":
        scope = _SETUP_RNGS.get()
        if scope is not None:
            return scope.get()
        raise AttributeError(
            f"{type(obj).__qualname__}.rngs (a seeded nnx.Rngs) exists only inside setup(); "
            "keep a reference (self.rngs = self.rngs) if the module needs it later."
        )
    raise AttributeError(f"{type(obj).__qualname__!r} object has no attribute {name!r}")


class JaxRLModule(RLModule, nnx.Module):
    """RLModule base on JAX / Flax NNX.

    Neutral modules built with ``framework="jax"`` are composed with this class; native
    modules subclass it and use ``flax.nnx`` layers in ``setup()``, seeded by ``self.rngs``
    (an ``nnx.Rngs`` from ``model_config["seed"]``; the same seed gives the same weights).
    Their state keys are their NNX state paths joined with dots.

    Inference and exploration run in eval mode (``nnx.Module.eval()``: dropout off) and
    apply ``stop_gradient`` to their outputs; train runs in train mode. The mode is
    switched only when it changes. Forward passes are ``jax.jit``-compiled by default
    (see ``rlmodule_jax.compile``); ``rlm.get_backend("jax").compile(module, jit=False)``
    makes them eager.

    Example:
        >>> class Native(JaxRLModule):
        ...     def setup(self):
        ...         self.linear = nnx.Linear(4, 2, rngs=self.rngs)
        ...     def _forward(self, batch, **kwargs):
        ...         return {Columns.ACTION_DIST_INPUTS: self.linear(batch[Columns.OBS])}
        >>> module = RLModuleSpec(module_class=Native, observation_space=obs_space,
        ...                       action_space=act_space, model_config={"seed": 0}).build()
        >>> sorted(module.get_state())
        ['linear.bias', 'linear.kernel']
        >>> grads = nnx.grad(lambda m: m.forward_train(batch)["action_dist_inputs"].sum())(module)
    """

    _backend_name = "jax"
    nn = nn
    ops = ops

    def _init_framework(self) -> None:
        # nnx's metaclass sets up the object before __init__; only the mode flag is ours.
        # It is a static attribute, so nnx.split/merge copies carry the mode they were in.
        object.__setattr__(self, "_jax_mode", None)

    def _run_setup(self) -> None:
        token = _SETUP_RNGS.set(_SetupRngs(self.model_config.get("seed")))
        try:
            super()._run_setup()
        finally:
            _SETUP_RNGS.reset(token)

    def __getattr__(self, name: str) -> Any:
        return setup_rngs(self, name)

    # Structural changes invalidate compiled forward passes (they hold a split of the module).
    def __setattr__(self, name: str, value: Any) -> None:
        if _compile.TRACING.get():
            raise ForwardSideEffect(type(self), name)  # caught by the compiled forward
        super().__setattr__(name, value)
        _compile.invalidate(self)

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        _compile.invalidate(self)

    def _delete_attribute(self, parent: Any, name: str) -> None:
        delattr(parent, name)
        _compile.invalidate(self)

    # ---- modes -----------------------------------------------------------------------------
    def train(self, **attributes: Any) -> None:
        """``nnx.Module.train`` (dropout on), remembered so forwards do not switch again."""
        super().train(**attributes)
        object.__setattr__(self, "_jax_mode", "train")

    def eval(self, **attributes: Any) -> None:
        """``nnx.Module.eval`` (dropout off), remembered so forwards do not switch again."""
        super().eval(**attributes)
        object.__setattr__(self, "_jax_mode", "eval")

    # ---- dispatch ------------------------------------------------------------------------
    def _run_inference(self, fn, batch, kwargs):
        if self._jax_mode != "eval":
            self.eval()
        # Only bound methods of this module can be replayed on its nnx.merge-d copy.
        if getattr(fn, "__self__", None) is self:
            compiled = _compile.compiled_forwards(self)
            return compiled(self, fn, batch, kwargs, True, lambda: self._eager(fn, batch, kwargs, True))
        return self._eager(fn, batch, kwargs, True)

    def _run_train(self, fn, batch, kwargs):
        if self._jax_mode != "train":
            self.train()
        if getattr(fn, "__self__", None) is self:
            compiled = _compile.compiled_forwards(self)
            return compiled(self, fn, batch, kwargs, False, lambda: self._eager(fn, batch, kwargs, False))
        return self._eager(fn, batch, kwargs, False)

    @staticmethod
    def _eager(fn, batch, kwargs, inference: bool):
        out = fn(_map_leaves(_convert_leaf, batch, jax.Array), **kwargs)
        return _stop_tracer_gradients(out) if inference else out

    # ---- state hooks ---------------------------------------------------------------------
    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return {
            key: (tuple(var.get_raw_value().shape), np.dtype(var.get_raw_value().dtype))
            for key, var in _state.named_state(self).items()
        }

    def _state_read(self, keys: list[str]) -> dict[str, np.ndarray]:
        variables = _state.named_state(self)
        return {key: _state.read(variables[key]) for key in keys}

    def _state_read_into(self, keys: list[str], out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        variables = _state.named_state(self)
        return {key: _state.read(variables[key], out.get(key)) for key in keys}

    def _state_write(self, state: dict[str, np.ndarray]) -> None:
        variables = _state.named_state(self)
        for key, value in state.items():
            _state.write(variables[key], value)
