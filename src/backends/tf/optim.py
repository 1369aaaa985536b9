"""The gradient step on TF: a ``keras.optimizers.Adam`` with global-norm clipping.

Keras's Adam adds ``epsilon`` to the square root of the *uncorrected* second moment
(the paper's "epsilon hat"), which acts like an epsilon ``1 / sqrt(1 - beta_2**t)``
times larger early on: with RL's usual ``eps=1e-5`` it slows the first hundreds of
updates of weights with small gradients. ``Adam`` here is Keras's with the update of
``torch.optim.Adam`` and ``optax.adam`` (epsilon added to the bias-corrected root), so
the same hyperparameters train alike on every backend.

The step (forward, loss, gradients, clipping, Adam) runs as one ``tf.function`` per loss
function, because an eager Keras step costs milliseconds. A loss that cannot be traced
(Python control flow on tensor values) runs eagerly instead, with one warning.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ._keras import keras, tf
from .compile import NeedsStaticShapes, TracingFailed, call_traced, describe
from .module import convert_batch
from .state import named_state

__all__ = ["Adam", "make_optimizer", "TfOptimizer"]

LossFn = Callable[[Any, Any], tuple[Any, dict[str, Any]]]


class Adam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with torch's and optax's epsilon placement.

    ``variable -= lr * m_hat / (sqrt(v_hat) + epsilon)`` with the bias-corrected moments
    ``m_hat = m / (1 - beta_1**t)`` and ``v_hat = v / (1 - beta_2**t)``.

    Example:
        >>> optimizer = Adam(learning_rate=3e-4, epsilon=1e-5)
        >>> optimizer.apply_gradients(zip(grads, module.trainable_variables))
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        gradient = tf.cast(gradient, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, (gradient - m) * (1.0 - self.beta_1))
        self.assign_add(v, (tf.square(gradient) - v) * (1.0 - self.beta_2))
        m_hat = m / (1.0 - tf.pow(tf.cast(self.beta_1, dtype), step))
        v_hat = v / (1.0 - tf.pow(tf.cast(self.beta_2, dtype), step))
        self.assign_sub(variable, lr * m_hat / (tf.sqrt(v_hat) + self.epsilon))


class _Step:
    """A compiled update step; ``generalizes`` as in ``compile.call_traced``."""

    __slots__ = ("function", "generalizes")

    def __init__(self, step: Callable[[Any], Any], *, generalizes: bool) -> None:
        self.function = tf.function(step, autograph=False, reduce_retracing=generalizes)
        self.generalizes = generalizes

    def __call__(self, batch: Any) -> Any:
        return self.function(batch)


def _cache_key(loss_fn: LossFn) -> Any:
    """Equal for loss functions that compute the same thing (a new ``partial`` per update)."""
    if isinstance(loss_fn, functools.partial):
        return (loss_fn.func, loss_fn.args, tuple(sorted(loss_fn.keywords.items())))
    return loss_fn


class TfOptimizer:
    """Adam over a module's trainable variables (target networks are not trainable).

    Example:
        >>> opt = backend.make_optimizer(module, lr=3e-4, grad_clip=0.5)
        >>> metrics = opt.update(lambda m, b: (loss_of(m, b), {}), batch)
    """

    def __init__(self, module: keras.Model, *, lr: float, grad_clip: float | None = None, eps: float = 1e-8) -> None:
        self.module = module
        self.variables = list(module.trainable_variables)
        if not self.variables:
            raise ValueError(f"{type(module).__qualname__} has no trainable variables to optimize.")
        self.optimizer = Adam(learning_rate=lr, epsilon=eps)
        self.optimizer.build(self.variables)
        self.grad_clip = grad_clip
        self._steps: dict[Any, Any] = {}
        self._eager: set[Any] = set()
        self._slots = self._slot_names()

    def _slot_names(self) -> dict[str, keras.Variable]:
        """The optimizer's variables by stable name: ``momentum.<state key>`` etc."""
        keys = {id(v): k for k, v in named_state(self.module).items()}
        slots = {"iteration": self.optimizer.iterations, "learning_rate": self.optimizer.learning_rate}
        per_variable = self.optimizer.variables[2:]
        for index, variable in enumerate(self.variables):
            for kind, slot in zip(("momentum", "velocity"), per_variable[2 * index : 2 * index + 2]):
                slots[f"{kind}.{keys.get(id(variable), index)}"] = slot
        return slots

    def _step(self, loss_fn: LossFn, batch: Any) -> tuple[Any, Any, dict[str, Any]]:
        with tf.GradientTape() as tape:
            loss, metrics = loss_fn(self.module, batch)
        grads = tape.gradient(loss, self.variables)
        present = [g for g in grads if g is not None]
        norm = tf.linalg.global_norm(present) if present else tf.constant(0.0)
        if self.grad_clip:
            scale = tf.minimum(1.0, self.grad_clip / tf.maximum(norm, 1e-12))
            grads = [None if g is None else g * scale for g in grads]
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, self.variables) if g is not None])
        return loss, norm, metrics

    def update(self, loss_fn: LossFn, batch: Any) -> dict[str, float]:
        """One Adam step on ``loss_fn(module, batch)``; returns loss, grad_norm and metrics."""
        batch = convert_batch(batch)
        key = _cache_key(loss_fn)
        if key in self._eager:
            loss, norm, metrics = self._step(loss_fn, batch)
        else:
            loss, norm, metrics = self._compiled_step(key, loss_fn, batch)
        out = {"loss": float(loss), "grad_norm": float(norm)}
        out.update({k: float(v) for k, v in metrics.items()})
        return out

    def _compiled_step(self, key: Any, loss_fn: LossFn, batch: Any) -> tuple[Any, Any, dict[str, Any]]:
        step = self._steps.get(key)
        if step is None:
            step = self._steps[key] = _Step(functools.partial(self._step, loss_fn), generalizes=True)
        failure = None
        try:
            return call_traced(step, (batch,))
        except NeedsStaticShapes:
            # The loss needs static shapes (e.g. compares ops.shape values in Python):
            # trace once per batch shape instead of once for every batch size.
            per_shape = _Step(functools.partial(self._step, loss_fn), generalizes=False)
            try:
                result = call_traced(per_shape, (batch,))
                self._steps[key] = per_shape
                return result
            except TracingFailed as err:
                failure = err.__cause__
        except TracingFailed as err:
            failure = err.__cause__
        result = self._step(loss_fn, batch)  # raises here when the loss is wrong, not untraceable
        self._eager.add(key)
        self._steps.pop(key, None)
        warnings.warn(
            f"The loss cannot run under tf.function ({describe(failure)}); updates run eagerly "
            "from now on, which is much slower. Avoid Python control flow on tensor values in the loss.",
            RuntimeWarning,
            stacklevel=3,
        )
        return result

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.learning_rate.numpy())

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        # A variable: compiled steps read the new value without retracing.
        self.optimizer.learning_rate.assign(float(value))

    def get_state(self) -> dict[str, np.ndarray]:
        """``iteration``, ``learning_rate`` and ``momentum.<key>``/``velocity.<key>`` per
        trainable variable (``<key>`` its module state key), as NumPy arrays."""
        return {name: np.asarray(variable.numpy()) for name, variable in self._slots.items()}

    def set_state(self, state: dict[str, Any]) -> None:
        unknown = sorted(set(state) - set(self._slots))
        missing = sorted(set(self._slots) - set(state) - {"learning_rate"})
        if unknown or missing:
            raise ValueError(
                f"Optimizer state does not match this module: unknown {unknown[:5]}, missing "
                f"{missing[:5]}. Restore a state saved from an optimizer of the same module."
            )
        arrays = {}
        for name, value in state.items():
            variable, array = self._slots[name], np.asarray(value)
            if array.size != np.prod(variable.shape, dtype=int):
                raise ValueError(
                    f"Optimizer state {name!r} has shape {array.shape}; expected {tuple(variable.shape)}. "
                    "Restore a state saved from an optimizer of the same module."
                )
            arrays[name] = array.reshape(tuple(variable.shape))  # scalars may come back as (1,)
        for name, array in arrays.items():
            self._slots[name].assign(array)


def make_optimizer(module: keras.Model, *, lr: float, grad_clip: float | None = None, eps: float = 1e-8) -> TfOptimizer:
    """Adam over ``module``'s trainable variables (see ``TfOptimizer``)."""
    return TfOptimizer(module, lr=lr, grad_clip=grad_clip, eps=eps)
