"""Compiled forward passes: ``jax.jit`` of a pure function of the module's state.

JAX modules run their forward passes compiled **by default**: on this machine an eager
``forward_inference`` of a [64, 64] MLP costs about 105 us at batch 1 (one dispatch per
op), the compiled one about 10 us (``benchmarks/jax_forward.py``). ``backend.compile``
changes the options (``jit=False`` for eager runs, ``static_kwargs``) and re-splits.

Calling an ``nnx.jit``-ed function walks the module graph on every call (hundreds of us
for a small MLP). Here the module is split once with ``nnx.split``; each forward phase
becomes ``jax.jit(pure)`` with ``pure(values, batch, ...) = method(nnx.merge(graphdef,
state(values)), batch)``, and each call only reads the current arrays of the cached
``nnx.Variable`` objects (well under a microsecond each). Because ``set_state``, optax
updates through ``nnx.Optimizer`` and ``nnx.update`` replace the values of those same
``Variable`` objects, the compiled passes always see the current weights.

The split is redone when the module's structure changes: assigning or deleting an
attribute of the module (``make_target_networks``, inference-only slimming) marks it
stale. Replacing a variable or layer *inside* a sub-layer after the first call is not
seen: call ``backend.compile(module)`` again after such surgery. A module whose values
are tracers (the view ``nnx.grad``/``nnx.jit`` pass to a function) runs eagerly: the
enclosing transformation compiles it.

Per call:

- The batch goes to ``jax.jit`` as is (NumPy leaves are converted by JAX; float64 becomes
  float32 without x64). Containers keep their types (dicts, lists, tuples, namedtuples);
  dict keys arrive in sorted order, as ``jax.jit`` flattens them.
- Keyword arguments: ``bool``, ``str``, ``None`` and other hashable non-numbers are static
  (a new value compiles a new version), numbers and arrays are traced (a new value does
  not recompile), as in ``jax.jit``. Name numbers that must be static (e.g. a Python loop
  count) with ``compile(module, static_kwargs=("n",))``. A generator from ``ops.rng``
  passed as a keyword gives the call a fresh subkey of it.
- ``ops.as_rng(None)`` inside a compiled pass draws from a per-call key (a counter folded
  into a base key), so exploration stays random; the need is detected while tracing.
- Outputs that are not arrays (strings, Python numbers) are returned as they were at
  trace time (static outputs); inference and exploration outputs get ``stop_gradient``.
- Variables the forward pass updates (``nnx.BatchStat`` in train mode, an
  ``nnx.Rngs`` counter) are written back to the module after the call.
- A forward pass that assigns an attribute of its module (``self.last = ...``) would do
  so only while tracing, on a copy: it is detected while tracing, and the module runs
  eagerly from then on, with one warning (``rlmodule_core.backend.compiling``). Other
  Python side effects (printing, appending to an outside list) run only while tracing,
  as with any ``jax.jit``; use ``jit=False`` (or ``jax.disable_jit()``) to run them on
  every call.
- A phase that cannot be traced (Python control flow on values, arguments JAX cannot
  take) runs eagerly instead, with one warning; errors that also happen eagerly are raised.
"""

from __future__ import annotations

import contextvars
import warnings
import weakref
from collections.abc import Iterable
from typing import Any

import jax
import numpy as np
from flax import nnx

from rlmodule_core.backend.compiling import ForwardSideEffect, check_options, warn_side_effect

from . import prng

__all__ = [
    "compile_module",
    "compiled_forwards",
    "CompiledForwards",
    "invalidate",
    "OPTIONS",
    "structure_version",
    "TRACING",
]

#: True while a forward pass is being traced: the module's __setattr__ refuses then.
TRACING: contextvars.ContextVar[bool] = contextvars.ContextVar("rlmodule_jax_tracing", default=False)
_EAGER_HINT = 'rlm.get_backend("jax").compile(module, jit=False)'

_COMPILED: weakref.WeakKeyDictionary[Any, CompiledForwards] = weakref.WeakKeyDictionary()

_STATIC_SCALARS = (bool, np.bool_, str, bytes, type(None))
_DYNAMIC_SCALARS = (int, float, complex, np.number)


@jax.tree_util.register_static
class _Static:
    """A non-array output carried in the output tree's static part (its aux data)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and (self.value is other.value or self.value == other.value)

    def __hash__(self) -> int:
        try:
            return hash(self.value)
        except TypeError:
            return id(self.value)


def _is_static(x: Any) -> bool:
    return isinstance(x, _Static)


def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray)


def _finish_outputs(out: Any, stop_gradient: bool) -> tuple[Any, bool]:
    """Inside the trace: ``stop_gradient`` on arrays, non-arrays wrapped as static."""
    found_static = False

    def leaf(x):
        nonlocal found_static
        if _is_array(x):
            return jax.lax.stop_gradient(x) if stop_gradient else x
        found_static = True
        return _Static(x)

    out = jax.tree.map(leaf, out)
    return out, found_static


def _unwrap(out: Any) -> Any:
    return jax.tree.map(lambda x: x.value if _is_static(x) else x, out, is_leaf=_is_static)


class _Phase:
    """One jitted forward method (e.g. ``_forward_inference``) of one module."""

    def __init__(self, jitted: Any) -> None:
        self.jitted = jitted
        self.needs_rng = False
        self.has_static = False
        self.eager = False


class CompiledForwards:
    """The compiled forward passes of one module (kept in a weak map beside it)."""

    def __init__(self, static_kwargs: frozenset[str] = frozenset(), *, jit: bool = True) -> None:
        self.static_kwargs = static_kwargs
        self.jit = jit
        self._stale = True
        self._counter = 0
        self._base_key: jax.Array | None = None
        self._graphdefs: dict[Any, Any] = {}
        self._phases: dict[tuple[str, bool], _Phase] = {}
        self._variables: list[Any] = []
        self._all_variables = True
        self._traced = False
        self._treedef: Any = None

    def invalidate(self) -> None:
        """Marks the split stale; the next call re-splits and re-traces."""
        self._stale = True

    # ---- building ----------------------------------------------------------------------
    def _split(self, module: Any) -> None:
        _, state = nnx.split(module)
        items, _ = jax.tree.flatten(state, is_leaf=lambda x: isinstance(x, nnx.Variable))
        leaves, treedef = jax.tree.flatten(state)
        if len(items) != len(leaves):
            raise TypeError(
                f"Cannot compile {type(module).__qualname__}: a variable holds a pytree instead "
                "of one array. Keep one array per nnx.Variable, or run it uncompiled."
            )
        self._variables = items
        self._all_variables = all(isinstance(v, nnx.Variable) for v in items)
        self._treedef = treedef
        # A module whose values are tracers is a view made inside nnx.grad/nnx.jit (a new
        # object per trace): jitting it would compile anew on every trace, so it runs
        # eagerly and the enclosing transformation compiles it.
        self._traced = any(isinstance(v, jax.core.Tracer) for v in leaves)
        self._graphdefs.clear()
        self._phases.clear()
        self._stale = False

    def _values(self) -> list[Any]:
        if self._all_variables:
            return [v.get_raw_value() for v in self._variables]
        return [v.get_raw_value() if isinstance(v, nnx.Variable) else v for v in self._variables]

    def _phase(self, module: Any, fn: Any, inference: bool) -> _Phase:
        key = (fn.__name__, inference)
        phase = self._phases.get(key)
        if phase is not None:
            return phase
        mode = module._jax_mode
        graphdef = self._graphdefs.get(mode)
        if graphdef is None:
            graphdef = self._graphdefs[mode] = nnx.graphdef(module)
        phase = _Phase(None)
        phase.jitted = jax.jit(
            self._make_pure(graphdef, self._treedef, fn.__func__, inference, phase),
            static_argnums=(3,),
        )
        self._phases[key] = phase
        return phase

    @staticmethod
    def _make_pure(graphdef: Any, treedef: Any, func: Any, inference: bool, phase: _Phase):
        def pure(values, batch, dynamic_kwargs, static_kwargs, rng):
            copy = nnx.merge(graphdef, jax.tree.unflatten(treedef, values))
            key = None if rng is None else jax.random.fold_in(rng[0], rng[1])
            tracing = TRACING.set(True)
            try:
                with prng.trace_stream(prng.TraceRng(key)) as trace_rng:
                    out = func(copy, batch, **dynamic_kwargs, **dict(static_kwargs))
            finally:
                TRACING.reset(tracing)
            if trace_rng.used and rng is None:
                phase.needs_rng = True  # this trace drew from a dummy key: the caller re-runs
            out, found_static = _finish_outputs(out, inference)
            phase.has_static = phase.has_static or found_static
            new_values = jax.tree.leaves(nnx.state(copy))
            updates = {}
            if len(new_values) == len(values):
                updates = {i: v for i, (v, old) in enumerate(zip(new_values, values)) if v is not old}
            return out, updates

        return pure

    # ---- calling -----------------------------------------------------------------------
    def _split_kwargs(self, kwargs: dict[str, Any]) -> tuple[dict, tuple] | None:
        """``(traced, static)`` keyword arguments, or None when one cannot be passed."""
        dynamic: dict[str, Any] = {}
        static: list[tuple[str, Any]] = []
        for name, value in kwargs.items():
            if isinstance(value, prng.KeyStream):
                dynamic[name] = value.split() if value.stateful else value
            elif name in self.static_kwargs or isinstance(value, _STATIC_SCALARS):
                static.append((name, value))
            elif isinstance(value, _DYNAMIC_SCALARS) or _is_array(value):
                dynamic[name] = value
            elif (leaves := jax.tree.leaves(value)) and all(_is_array(x) for x in leaves):
                dynamic[name] = value
            else:
                static.append((name, value))
        static_key = tuple(sorted(static, key=lambda item: item[0]))
        try:
            hash(static_key)
        except TypeError:
            return None
        return dynamic, static_key

    def __call__(self, module: Any, fn: Any, batch: Any, kwargs: dict[str, Any], inference: bool, eager: Any):
        if not self.jit:
            return eager()
        if self._stale:
            self._split(module)
        if self._traced:
            return eager()
        phase = self._phase(module, fn, inference)
        if phase.eager:
            return eager()
        if kwargs:
            split = self._split_kwargs(kwargs)
            if split is None:
                return eager()
            dynamic, static_key = split
        else:
            dynamic, static_key = {}, ()
        try:
            out = self._run(phase, batch, dynamic, static_key)
        except ForwardSideEffect as err:
            result = eager()  # raises an error of the eager run as is, changing nothing
            self.jit = False  # the whole module: one warning, not one per phase
            warn_side_effect(err, fn.__name__, "jax.jit", _EAGER_HINT, stacklevel=4)
            return result
        except Exception as err:
            result = eager()  # raises the error eagerly when it is not about tracing
            phase.eager = True
            warnings.warn(
                f"{type(module).__qualname__}.{fn.__name__} could not be compiled with jax.jit "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); it runs "
                "eagerly from now on. Avoid Python control flow on array values in the "
                "forward pass, or mark such keyword arguments static_kwargs=(...).",
                stacklevel=4,
            )
            return result
        return _unwrap(out) if phase.has_static else out

    def _run(self, phase: _Phase, batch: Any, dynamic: dict, static_key: tuple) -> Any:
        rng = self._rng_args() if phase.needs_rng else None
        out, updates = phase.jitted(self._values(), batch, dynamic, static_key, rng)
        if rng is None and phase.needs_rng:  # found while tracing: redo with a real key
            out, updates = phase.jitted(self._values(), batch, dynamic, static_key, self._rng_args())
        for index, value in updates.items():
            self._variables[index].set_raw_value(value)
        return out

    def _rng_args(self) -> tuple[jax.Array, np.uint32]:
        if self._base_key is None:
            self._base_key = prng.default_stream().next_key()
        self._counter = (self._counter + 1) % (2**32)
        return self._base_key, np.uint32(self._counter)


def compiled_forwards(module: Any) -> CompiledForwards:
    """The compiled passes of ``module``, made with the defaults on first use."""
    compiled = _COMPILED.get(module)
    if compiled is None:
        compiled = _COMPILED[module] = CompiledForwards()
    return compiled


_VERSIONS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def invalidate(module: Any) -> None:
    """Marks ``module``'s compiled passes for a re-split (its structure changed)."""
    compiled = _COMPILED.get(module)
    if compiled is not None:
        compiled.invalidate()
    _VERSIONS[module] = _VERSIONS.get(module, 0) + 1


def structure_version(module: Any) -> int:
    """A number that changes whenever an attribute of ``module`` is set or deleted."""
    return _VERSIONS.get(module, 0)


#: The options compile takes.
OPTIONS = {
    "static_kwargs": "names of numeric forward keyword arguments to treat as static",
    "jit": "False runs the forward passes eagerly, default True",
}


def compile_module(module: Any, **options: Any) -> Any:
    """Sets how the forward passes of ``module`` are compiled; returns ``module`` itself.

    JAX modules are compiled by default (on their first forward call), so this is needed
    only to change the options, or to re-split the module after replacing layers or
    variables inside a sub-layer. A MultiRLModule applies the options to each module.

    Args:
        static_kwargs: names of forward keyword arguments to treat as static even when
            they are numbers (by default numbers are traced).
        jit: False runs the forward passes eagerly, op by op (for Python side effects or
            debugging; ``with jax.disable_jit():`` does the same for a block of code).

    Example:
        >>> module = rlm.get_backend("jax").compile(spec.build())
        >>> module.forward_inference({"obs": obs})   # traced once per batch shape

    Raises:
        TypeError: ``module`` is not a JAX module or MultiRLModule, or an unknown option.
    """
    check_options("jax", options, OPTIONS)
    static_kwargs: Iterable[str] = options.get("static_kwargs", ())
    jit = bool(options.get("jit", True))
    if isinstance(static_kwargs, str):
        static_kwargs = (static_kwargs,)
    names = frozenset(static_kwargs)
    if getattr(module, "_is_container", False):
        for sub in module.values():
            compile_module(sub, static_kwargs=names, jit=jit)
        return module
    if getattr(module, "_backend_name", None) != "jax":
        raise TypeError(
            "The jax backend's compile expects a JAX RLModule (built with framework='jax') or "
            f"a MultiRLModule of them; received {type(module).__qualname__}."
        )
    _COMPILED[module] = CompiledForwards(names, jit=jit)
    return module
