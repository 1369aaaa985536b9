"""TfRLModule: the RLModule base on TensorFlow, a ``keras.Model``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rlmodule_core.backend import tree
from rlmodule_core.backend.compiling import ForwardSideEffect
from rlmodule_core.backend.tree import map_leaves as _map_leaves
from rlmodule_core.rl_module import RLModule

from . import nn, ops
from ._keras import keras, tf
from .compile import ForwardCall, Forwards
from .state import named_state, read_into, write

__all__ = ["convert_batch", "TfRLModule"]


def _convert_leaf(leaf: Any) -> Any:
    if isinstance(leaf, np.ndarray | np.generic):
        return tf.constant(leaf.astype(np.float32) if leaf.dtype == np.float64 else leaf)
    return leaf


def convert_batch(batch: Any, module: Any = None) -> Any:
    """Converts the NumPy leaves of a (nested) batch to tensors; float64 becomes float32.

    Tensors and Python values are left alone. Containers keep their types
    (``rlmodule_core.backend.tree``); returns the batch object itself when nothing needs
    converting (no copy on the hot path). ``module`` is not needed here; every backend's
    ``convert_batch`` takes it (torch places the leaves on the module's device).

    Example:
        >>> convert_batch({"obs": np.zeros(2)})["obs"].dtype
        tf.float32
    """
    return tree.map_leaves(_convert_leaf, batch, keep=tf.Tensor)


class TfRLModule(RLModule, keras.Model):
    """RLModule base on TensorFlow / Keras 3: a ``keras.Model`` with the RLModule API.

    Neutral modules (written against ``self.nn``/``self.ops``) are composed with it when
    built with ``framework="tf"``. Subclass it directly to write a native module with
    Keras layers; its state keys are attribute paths plus variable names
    (``self.pi = keras.layers.Dense(2)`` gives ``pi.kernel`` and ``pi.bias``). Create
    the variables in ``setup()`` (build native layers with their input shape), so the
    state is complete right after construction.

    It is a regular Keras model: ``trainable_variables``, ``summary()`` and Keras
    optimizers work. Inference and exploration run with ``training=False`` through a
    ``tf.function`` per phase (see ``rlmodule_tf.compile``); ``forward_train`` runs
    eagerly with ``training=True`` (for a learner's own ``tf.function``) until
    ``backend.compile(module)`` compiles it too. Calling the model Keras-style,
    ``module(batch, training=...)``, runs ``_forward_train``/``_forward_inference`` eagerly.

    Attribute names that Keras reserves on a model (``layers``, ``name``, ``loss``,
    ``built``, ``trainable``, ``weights``, ...) cannot hold sub-layers.

    Example:
        >>> class Policy(TfRLModule):
        ...     def setup(self):
        ...         self.pi = keras.layers.Dense(int(self.action_space.n))
        ...         self.pi.build((None, self.observation_space.shape[0]))
        ...     def _forward(self, batch, **kwargs):
        ...         return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}
        >>> module = Policy(observation_space=obs_space, action_space=act_space)
        >>> sorted(module.get_state())
        ['pi.bias', 'pi.kernel']
    """

    _backend_name = "tf"
    nn = nn
    ops = ops

    # Pickle and copy through __getstate__/__setstate__ below, not Keras's saving archive.
    __reduce__ = object.__reduce__

    # ---- framework --------------------------------------------------------------------
    def _init_framework(self) -> None:
        keras.Model.__init__(self)
        self.built = True  # variables are made in setup(); Keras must not build by calling
        # call() receives a ForwardCall, not tensors.
        self._allow_non_tensor_positional_args = True
        object.__setattr__(self, "_tf", Forwards())

    def __setattr__(self, name: str, value: Any) -> None:
        forwards = self.__dict__.get("_tf")
        if forwards is not None and forwards.tracing:
            raise ForwardSideEffect(type(self), name)  # caught by the compiled forward
        super().__setattr__(name, value)
        # A new or replaced layer invalidates traces that captured the old variables.
        if isinstance(value, keras.layers.Layer) and "_tf" in self.__dict__:
            self._tf.reset()

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """Keras's forward: runs a ``ForwardCall``, or a plain batch Keras-style."""
        if isinstance(inputs, ForwardCall):
            return inputs.run()
        return self._forward_train(inputs) if training else self._forward_inference(inputs)

    # ---- dispatch -----------------------------------------------------------------------
    def _run_inference(self, fn, batch, kwargs):
        return self._tf.run(self, fn, _map_leaves(_convert_leaf, batch, tf.Tensor), kwargs, False)

    def _run_train(self, fn, batch, kwargs):
        return self._tf.run(self, fn, _map_leaves(_convert_leaf, batch, tf.Tensor), kwargs, True)

    # ---- state --------------------------------------------------------------------------
    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return {k: (tuple(v.shape), np.dtype(v.dtype)) for k, v in named_state(self).items()}

    def _state_read(self, keys: list[str]) -> dict[str, np.ndarray]:
        variables = named_state(self)
        # Variable.numpy() returns a fresh array each call (the conformance suite checks it).
        return {k: variables[k].numpy() for k in keys}

    def _state_read_into(self, keys: list[str], out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        variables = named_state(self)
        return {k: read_into(variables[k], out[k]) if k in out else variables[k].numpy() for k in keys}

    def _state_write(self, state: dict[str, np.ndarray]) -> None:
        variables = named_state(self)
        for key, value in state.items():
            write(variables[key], value)

    def _delete_attribute(self, parent: Any, name: str) -> None:
        removed = getattr(parent, name)
        delattr(parent, name)
        if isinstance(parent, keras.layers.Layer):
            _untrack(parent, removed)
        self._tf.reset()

    # ---- pickling -------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        args, kwargs = self.get_ctor_args_and_kwargs()
        return {
            "args": args,
            "kwargs": kwargs,
            "state": self.get_state(),
            "compile": (dict(self._tf.options), self._tf.compile_train),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(*state["args"], **state["kwargs"])
        self.set_state(state["state"])
        options, compile_train = state["compile"]
        self._tf.options.update(options)
        self._tf.compile_train = compile_train


def _untrack(parent: keras.layers.Layer, removed: Any) -> None:
    """Removes ``removed`` (a layer, variable or container of them) from Keras's tracking
    of ``parent`` unless another attribute still holds it."""
    if any(value is removed for value in vars(parent).values()):
        return
    items = removed.values() if isinstance(removed, Mapping) else removed if isinstance(removed, list | tuple) else [removed]
    tracker = parent._tracker
    locked = tracker.locked
    tracker.unlock()
    try:
        for item in items:
            if isinstance(item, keras.layers.Layer | keras.Variable):
                tracker.untrack(item)
    finally:
        if locked:
            tracker.lock()
