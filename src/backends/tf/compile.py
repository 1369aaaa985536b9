"""How a TF module's forward passes run: through ``tf.function`` unless they cannot.

Eager Keras costs milliseconds per call, so ``forward_inference`` and
``forward_exploration`` run through one ``tf.function`` per phase by default, traced
with ``reduce_retracing=True`` (a new batch size retraces once, then the batch axis
stays generalized) and without AutoGraph (the module's Python runs as written, as on
every other backend). ``Backend.compile(module, ...)`` makes this explicit, adds
``forward_train`` and accepts ``jit_compile=True`` for XLA. The functions read the
module's variables by reference, so ``set_state`` changes their outputs.

Calling a ``tf.function`` re-derives the trace signature of its nested inputs on every
call (about 60 us for a dict batch, a third of a small policy's forward pass), so each
input signature seen (structure, dtypes, shapes) is mapped once to the concrete function
the ``tf.function`` chose, and later calls go to that concrete function directly.

Per call, as with ``jax.jit`` on the JAX backend:

- Keyword arguments: numbers and arrays (``t=7``) reach the traced forward as tensors
  (Python ints as int64, floats as float32), so a new value does not retrace; ``bool``,
  ``str``, ``None`` and ``tf.random.Generator`` values are static (each new value traces
  once more). A call with any other keyword value runs eagerly.
- Outputs that are not tensors (strings, Python numbers, NumPy arrays) are returned as
  they were when the phase was traced.
- Code that needs static shapes (it compares ``ops.shape`` values in Python, as
  ``Categorical.logp`` does) cannot run in a trace generalized over the batch size; such
  a phase is traced once per input shape instead (silently, like ``jax.jit``).
- A phase whose code cannot be traced at all (Python control flow on a tensor value,
  ``int()`` of a tensor, ...) runs eagerly from then on, with one warning. An error that
  also happens eagerly is raised as is, and changes nothing.
- A forward pass that assigns an attribute of its module (``self.last = ...``) would do
  so only while tracing, with symbolic tensors: it is detected while tracing, and the
  module runs eagerly from then on, with one warning (``rlmodule_core.backend.compiling``).
- ``tf.config.run_functions_eagerly(True)`` makes every forward run eagerly (debugging).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from rlmodule_core.backend.compiling import ForwardSideEffect, check_options, warn_side_effect

from ._keras import tf

__all__ = [
    "call_traced",
    "compile_module",
    "describe",
    "ForwardCall",
    "Forwards",
    "NeedsStaticShapes",
    "TracingFailed",
]

_OPTIONS = {
    "jit_compile": "XLA, default False",
    "reduce_retracing": "generalize input shapes after a retrace, default True",
    "train": "also compile forward_train, default True",
}
_PHASES = ("_forward_inference", "_forward_exploration", "_forward_train")
_EAGER_HINT = "tf.config.run_functions_eagerly(True) (for the whole process)"
_STATIC_KWARGS = (bool, np.bool_, str, bytes, type(None))
_KWARGS_AS_GIVEN = (*_STATIC_KWARGS, tf.Tensor, tf.random.Generator)
# Marks a traced output that carries non-tensor leaves: {_STATIC: record index, "leaves": [...]}.
_STATIC = "__rlmodule_tf_static_outputs__"
_MAX_SIGNATURES = 256


class ForwardCall:
    """One forward pass handed to ``TfRLModule.call`` through Keras's ``__call__``.

    Keras sets the ``training`` flag for nested native layers (Dropout, BatchNorm) in
    its ``__call__``; packing the phase function, batch and keyword arguments into one
    opaque object keeps Keras's checks on positional tensors out of the way.
    """

    __slots__ = ("fn", "batch", "kwargs", "forwards")

    def __init__(self, fn: Callable[..., Any], batch: Any, kwargs: dict[str, Any], forwards: Forwards | None = None) -> None:
        self.fn, self.batch, self.kwargs, self.forwards = fn, batch, kwargs, forwards

    def run(self) -> Any:
        if self.forwards is None or not tf.inside_function():
            return self.fn(self.batch, **self.kwargs)
        # Only the module's own forward code runs with the flag (not Keras's __call__).
        self.forwards.tracing = True
        try:
            return self.fn(self.batch, **self.kwargs)
        finally:
            self.forwards.tracing = False


def _is_tensor_leaf(x: Any) -> bool:
    return x is None or isinstance(x, tf.Tensor | tf.__internal__.CompositeTensor)


def _traced_kwargs(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Keyword arguments as the compiled forward takes them, or None to run eagerly."""
    out = {}
    for name, value in kwargs.items():
        if isinstance(value, _KWARGS_AS_GIVEN):
            out[name] = value
        elif isinstance(value, int | np.integer):
            out[name] = tf.constant(value, tf.int64)
        elif isinstance(value, float | np.floating):
            out[name] = tf.constant(value, tf.float32)
        elif isinstance(value, np.ndarray):
            out[name] = tf.convert_to_tensor(value.astype(np.float32) if value.dtype == np.float64 else value)
        else:
            return None
    return out


def _signature(x: Any) -> Any:
    """A hashable description of a call's inputs (structure, dtypes, shapes, static
    values), or None when a leaf is neither a tensor nor a static Python value."""
    if isinstance(x, tf.Tensor):
        return (x.dtype, tuple(x.shape))
    if isinstance(x, Mapping):
        parts = []
        for key, value in x.items():
            part = _signature(value)
            if part is None:
                return None
            parts.append((key, part))
        return (dict, tuple(parts))
    if isinstance(x, list | tuple):  # namedtuples included: their type is part of the key
        parts = [_signature(v) for v in x]
        return None if any(p is None for p in parts) else (type(x), tuple(parts))
    if isinstance(x, _STATIC_KWARGS):
        return (type(x), x)
    return None  # e.g. a generator: the tf.function itself tells generators apart


class _Failure:
    """A phase that could not be traced, and why."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class TracingFailed(Exception):
    """Tracing failed (the cause is chained): the call must run eagerly."""


class NeedsStaticShapes(TracingFailed):
    """A trace generalized over input shapes failed: retry with one trace per shape."""


def describe(err: BaseException | None) -> str:
    """``"TypeError: first line of the message"``."""
    if err is None:
        return "unknown error"
    message = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {message}"


def _side_effect_in(err: BaseException) -> ForwardSideEffect | None:
    """The ForwardSideEffect that ``err`` wraps (through ``__cause__``/``__context__``), if any."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, ForwardSideEffect):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def call_traced(traced: Any, args: tuple) -> Any:
    """Calls a traced function, sorting failures into graph errors (raised as they are)
    and tracing failures (``NeedsStaticShapes`` when a per-shape trace may work, else
    ``TracingFailed``), both with the original error as ``__cause__``."""
    try:
        return traced(*args)
    except (tf.errors.OpError, ForwardSideEffect):
        raise  # a runtime error of the graph (an eager run would fail the same way), or a side effect
    except Exception as err:  # noqa: BLE001 - any other error comes from tracing the code
        side_effect = _side_effect_in(err)
        if side_effect is not None:
            raise side_effect from None  # Keras wraps errors of call() in a RuntimeError
        if getattr(traced, "generalizes", False):
            raise NeedsStaticShapes() from err
        raise TracingFailed() from err


class _Phase:
    """One traced phase: its ``tf.function`` and the concrete functions it chose."""

    __slots__ = ("function", "concrete", "generalizes")

    def __init__(self, function: Any, generalizes: bool) -> None:
        self.function = function
        self.concrete: dict[Any, Any] = {}
        self.generalizes = generalizes

    def __call__(self, *args: Any) -> Any:
        if tf.config.functions_run_eagerly():
            return self.function(*args)
        key = _signature(args)
        if key is None:
            return self.function(*args)
        concrete = self.concrete.get(key)
        if concrete is None:
            if len(self.concrete) >= _MAX_SIGNATURES:
                self.concrete.clear()
            # Traces (following reduce_retracing) or returns the matching existing trace.
            concrete = self.concrete[key] = self.function.get_concrete_function(*args)
        return concrete(*args)


class _TracedForward:
    """The Python function a phase's ``tf.function`` traces.

    A callable object rather than a closure: TF's retracing warning counts the traces
    of all functions sharing one ``__code__``, which would add up across modules.
    """

    __slots__ = ("module", "phase", "training", "records", "__weakref__")

    def __init__(self, module: Any, phase: str, training: bool, records: list) -> None:
        self.module = weakref.ref(module)  # the module holds this function; no strong cycle
        self.phase, self.training, self.records = phase, training, records

    def forward(self, batch: Any, kwargs: dict[str, Any]) -> Any:
        module = self.module()
        out = module(ForwardCall(getattr(module, self.phase), batch, kwargs, module._tf), training=self.training)
        leaves = tf.nest.flatten(out)
        if all(_is_tensor_leaf(x) for x in leaves):
            return out
        # tf.function would turn Python values into constant tensors: keep them here.
        positions = [i for i, x in enumerate(leaves) if _is_tensor_leaf(x)]
        self.records.append((out, positions))
        return {_STATIC: len(self.records) - 1, "leaves": [leaves[i] for i in positions]}


class _TracedBatch(_TracedForward):
    """``forward(batch)``: a call without keyword arguments passes no empty dict
    (an extra argument costs TF about 20 us per call)."""

    __slots__ = ()

    def __call__(self, batch: Any) -> Any:
        return self.forward(batch, {})


class _TracedBatchAndKwargs(_TracedForward):
    """``forward(batch, kwargs)``."""

    __slots__ = ()

    def __call__(self, batch: Any, kwargs: dict[str, Any]) -> Any:
        return self.forward(batch, kwargs)


class Forwards:
    """The compiled forward functions of one module, and when to run eagerly."""

    def __init__(self) -> None:
        self.phases: dict[tuple[str, bool], _Phase] = {}
        self.eager_phases: set[str] = set()
        self.options: dict[str, Any] = {"jit_compile": False, "reduce_retracing": True}
        self.compile_train = False
        self.tracing = False  # True while the module's forward code runs inside a trace
        self._static_records: list[tuple[Any, list[int]]] = []

    def reset(self) -> None:
        """Drops the traced functions (after the module's layers changed)."""
        self.phases.clear()

    def function(self, phase: str, with_kwargs: bool = False) -> Any:
        """The ``tf.function`` of a phase (None before its first compiled call)."""
        entry = self.phases.get((phase, with_kwargs))
        return None if entry is None else entry.function

    def configure(self, **options: Any) -> None:
        check_options("tf", options, _OPTIONS)
        self.compile_train = bool(options.pop("train", True))
        self.options.update(options)
        self.phases.clear()
        self.eager_phases.clear()

    def run(self, module: Any, fn: Callable[..., Any], batch: Any, kwargs: dict[str, Any], training: bool) -> Any:
        """Runs ``fn(batch, **kwargs)`` compiled when possible, else eagerly."""
        phase = fn.__name__
        if phase in self.eager_phases or (training and not self.compile_train):
            return module(ForwardCall(fn, batch, kwargs), training=training)
        if kwargs:
            traced_kwargs = _traced_kwargs(kwargs)
            if traced_kwargs is None:
                return module(ForwardCall(fn, batch, kwargs), training=training)
            args = (batch, traced_kwargs)
        else:
            args = (batch,)
        key = (phase, bool(kwargs))
        entry = self.phases.get(key)
        if entry is None:
            entry = self.phases[key] = self._trace(module, phase, training, bool(kwargs), self.options["reduce_retracing"])
        try:
            out = self._call_phase(module, entry, key, training, args)
        except ForwardSideEffect as err:
            out = module(ForwardCall(fn, batch, kwargs), training=training)  # its errors raise as they are
            self.eager_phases.update(_PHASES)  # the whole module: one warning, not one per phase
            warn_side_effect(err, fn.__name__, "tf.function", _EAGER_HINT, stacklevel=4)
            return out
        if isinstance(out, _Failure):
            return self._eager_from_now_on(module, fn, batch, kwargs, training, out.error)
        if type(out) is dict and _STATIC in out:
            return self._with_static(out)
        return out

    def _call_phase(self, module: Any, entry: _Phase, key: tuple[str, bool], training: bool, args: tuple) -> Any:
        """The traced phase's output, or a ``_Failure`` when the code cannot be traced."""
        phase, with_kwargs = key
        try:
            return call_traced(entry, args)
        except NeedsStaticShapes:
            # The code needs static shapes (e.g. compares ops.shape values in Python),
            # which a trace generalized over the batch size does not have.
            per_shape = self._trace(module, phase, training, with_kwargs, False)
            try:
                out = call_traced(per_shape, args)
            except TracingFailed as err:
                return _Failure(err.__cause__)
            self.phases[key] = per_shape  # kept only when it works: bad inputs change nothing
            return out
        except TracingFailed as err:
            return _Failure(err.__cause__)

    def _eager_from_now_on(self, module, fn, batch, kwargs, training, err: BaseException) -> Any:
        out = module(ForwardCall(fn, batch, kwargs), training=training)
        # Reached only when the eager run worked (else its error is raised): the phase
        # cannot be traced.
        self.eager_phases.add(fn.__name__)
        warnings.warn(
            f"{type(module).__qualname__}.{fn.__name__} cannot run under tf.function "
            f"({describe(err)}); it runs eagerly from now on, which is much slower. Avoid "
            "Python control flow on tensor values in the forward pass.",
            RuntimeWarning,
            stacklevel=5,
        )
        return out

    def _trace(self, module: Any, phase: str, training: bool, with_kwargs: bool, generalize: bool) -> _Phase:
        traced = _TracedBatchAndKwargs if with_kwargs else _TracedBatch
        forward = traced(module, phase, training, self._static_records)
        options = {**self.options, "reduce_retracing": generalize}
        return _Phase(tf.function(forward, autograph=False, **options), generalize)

    def _with_static(self, out: dict[str, Any]) -> Any:
        structure, positions = self._static_records[int(out[_STATIC])]
        leaves = tf.nest.flatten(structure)
        for position, value in zip(positions, out["leaves"]):
            leaves[position] = value
        return tf.nest.pack_sequence_as(structure, leaves)


def compile_module(module: Any, **options: Any) -> Any:
    """Compiles the forward passes of a TF module (or of every TF module in a
    MultiRLModule) with ``tf.function`` and returns it.

    Args:
        module: a ``TfRLModule`` or a ``MultiRLModule`` of them.
        jit_compile: compile with XLA (default False).
        reduce_retracing: generalize input shapes after a retrace (default True), so a
            changing batch size traces at most twice.
        train: compile ``forward_train`` too (default True; without compile it runs
            eagerly, for a learner that compiles its whole update step).

    Example:
        >>> module = rlm.get_backend("tf").compile(module, jit_compile=True)
    """
    from .module import TfRLModule

    if isinstance(module, TfRLModule):
        module._tf.configure(**options)
        return module
    values = getattr(module, "values", None)
    if getattr(module, "_is_container", False) and callable(values):
        for sub in values():
            compile_module(sub, **options)
        return module
    raise TypeError(
        f"The tf backend compiles TfRLModules (or MultiRLModules of them); received "
        f"{type(module).__name__}. Build the module with framework='tf'."
    )
