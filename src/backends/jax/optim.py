"""The gradient step on JAX: ``optax.adam`` with global-norm clipping, one ``jax.jit`` step.

Like the compiled forward passes, the step is a pure function of the module's split
state: ``nnx.merge`` inside, ``jax.value_and_grad`` with respect to the ``nnx.Param``
values only (target networks hold ``TargetParam`` and are left alone), the Adam update,
and the new parameter values written back into the module's same ``nnx.Variable``
objects. Other variables the loss updates (``nnx.BatchStat``, ``nnx.Rngs`` counters) are
written back too. One step function is jitted per loss function; a step that cannot be
jitted runs eagerly instead, with one warning.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from . import compile as _compile
from .state import named_state

__all__ = ["JaxOptimizer", "make_optimizer"]

LossFn = Callable[[Any, Any], tuple[Any, dict[str, Any]]]


def _cache_key(loss_fn: LossFn) -> Any:
    """Equal for loss functions that compute the same thing (a new ``partial`` per update)."""
    if isinstance(loss_fn, functools.partial):
        return (loss_fn.func, loss_fn.args, tuple(sorted(loss_fn.keywords.items())))
    return loss_fn


def _path_name(path: tuple) -> str:
    parts = []
    for entry in path:
        for attr in ("name", "key", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
    return ".".join(parts)


class JaxOptimizer:
    """Adam (optax) over a module's ``nnx.Param`` variables.

    Example:
        >>> opt = rlm.get_backend("jax").make_optimizer(module, lr=3e-4, grad_clip=0.5)
        >>> metrics = opt.update(lambda m, b: (loss_of(m, b), {}), batch)
        >>> opt.learning_rate = 1e-4          # no re-compilation
    """

    def __init__(self, module: Any, *, lr: float, grad_clip: float | None = None, eps: float = 1e-8) -> None:
        self.module = module
        self.grad_clip = grad_clip
        self.tx = optax.inject_hyperparams(optax.adam)(learning_rate=lr, eps=eps)
        self._split()
        if not self._param_keys:
            raise ValueError(f"{type(module).__qualname__} has no nnx.Param variables to optimize.")
        self.opt_state = self.tx.init(self._params())
        self._steps: dict[Any, Any] = {}
        self._eager: set[Any] = set()

    # ---- the split ----------------------------------------------------------------------
    def _split(self) -> None:
        graphdef, state = nnx.split(self.module)
        items, _ = jax.tree.flatten(state, is_leaf=lambda x: isinstance(x, nnx.Variable))
        leaves, treedef = jax.tree.flatten(state)
        if len(items) != len(leaves):
            raise TypeError(
                f"Cannot train {type(self.module).__qualname__}: a variable holds a pytree "
                "instead of one array. Keep one array per nnx.Variable."
            )
        keys = {id(v): k for k, v in named_state(self.module).items()}
        trainable = [i for i, v in enumerate(items) if isinstance(v, nnx.Param)]
        param_keys = [keys.get(id(items[i]), str(i)) for i in trainable]
        if hasattr(self, "_param_keys") and param_keys != self._param_keys:
            raise ValueError(
                f"The parameters of {type(self.module).__qualname__} changed after the optimizer "
                "was made; make a new optimizer for the new structure."
            )
        self._graphdef, self._treedef, self._items = graphdef, treedef, items
        self._trainable, self._param_keys = trainable, param_keys
        self._version = _compile.structure_version(self.module)
        self._steps = {}

    def _params(self) -> dict[str, jax.Array]:
        return {k: self._items[i].get_raw_value() for k, i in zip(self._param_keys, self._trainable)}

    def _values(self) -> list[Any]:
        return [v.get_raw_value() if isinstance(v, nnx.Variable) else v for v in self._items]

    # ---- the step -----------------------------------------------------------------------
    def _step(self, loss_fn: LossFn, params, values, opt_state, batch):
        graphdef, treedef, trainable, keys = self._graphdef, self._treedef, self._trainable, self._param_keys

        def loss_of(params):
            full = list(values)
            for index, key in zip(trainable, keys):
                full[index] = params[key]
            module = nnx.merge(graphdef, jax.tree.unflatten(treedef, full))
            loss, metrics = loss_fn(module, batch)
            return loss, (metrics, jax.tree.leaves(nnx.state(module)))

        (loss, (metrics, new_values)), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
        norm = optax.tree.norm(grads)
        if self.grad_clip:
            scale = jnp.minimum(1.0, self.grad_clip / jnp.maximum(norm, 1e-12))
            grads = jax.tree.map(lambda g: g * scale, grads)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_values, opt_state, loss, norm, metrics

    def update(self, loss_fn: LossFn, batch: Any) -> dict[str, float]:
        """One Adam step on ``loss_fn(module, batch)``; returns loss, grad_norm and metrics.

        ``loss_fn`` receives a traced view of the module (``nnx.merge`` of its state):
        compute the loss from that module, not from ``self.module``.
        """
        if self._version != _compile.structure_version(self.module):
            self._split()
        key = _cache_key(loss_fn)
        args = (self._params(), self._values(), self.opt_state, batch)
        if key in self._eager:
            result = self._step(loss_fn, *args)
        else:
            step = self._steps.get(key)
            if step is None:
                step = self._steps[key] = jax.jit(functools.partial(self._step, loss_fn))
            try:
                result = step(*args)
            except Exception as err:  # a tracing failure: run eagerly (re-raises real errors)
                result = self._step(loss_fn, *args)
                self._eager.add(key)
                warnings.warn(
                    f"The loss could not run under jax.jit ({type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''}); updates run eagerly, "
                    "which is much slower.",
                    RuntimeWarning,
                    stacklevel=2,
                )
        params, new_values, self.opt_state, loss, norm, metrics = result
        self._write(params, new_values)
        out = {"loss": float(loss), "grad_norm": float(norm)}
        out.update({k: float(v) for k, v in metrics.items()})
        return out

    def _write(self, params: dict[str, jax.Array], new_values: list[Any]) -> None:
        trainable = set(self._trainable)
        for index, item in enumerate(self._items):
            if isinstance(item, nnx.Variable) and index not in trainable:
                item.set_raw_value(new_values[index])
        for key, index in zip(self._param_keys, self._trainable):
            self._items[index].set_raw_value(params[key])

    # ---- learning rate and state --------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        return float(self.opt_state.hyperparams["learning_rate"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        # An array in the optimizer state: the jitted step reads it without re-tracing.
        current = self.opt_state.hyperparams["learning_rate"]
        self.opt_state.hyperparams["learning_rate"] = jnp.asarray(value, dtype=current.dtype)

    def get_state(self) -> dict[str, np.ndarray]:
        """The optax state flattened by path (``count``, ``hyperparams.learning_rate``,
        ``inner_state.0.mu.<param key>``, ...), as NumPy arrays."""
        flat, _ = jax.tree_util.tree_flatten_with_path(self.opt_state)
        return {_path_name(path): np.array(value, copy=True) for path, value in flat}

    def set_state(self, state: dict[str, Any]) -> None:
        flat, treedef = jax.tree_util.tree_flatten_with_path(self.opt_state)
        names = [_path_name(path) for path, _ in flat]
        unknown, missing = sorted(set(state) - set(names)), sorted(set(names) - set(state))
        wrong = [n for (_, v), n in zip(flat, names) if n in state and np.shape(state[n]) != np.shape(v)]
        if unknown or missing or wrong:
            raise ValueError(
                f"Optimizer state does not match this module: unknown {unknown[:5]}, missing "
                f"{missing[:5]}, mis-shaped {wrong[:5]}. Restore a state saved from an optimizer "
                "of the same module."
            )
        leaves = [jnp.asarray(np.asarray(state[n]), dtype=v.dtype) for (_, v), n in zip(flat, names)]
        self.opt_state = jax.tree.unflatten(treedef, leaves)


def make_optimizer(module: Any, *, lr: float, grad_clip: float | None = None, eps: float = 1e-8) -> JaxOptimizer:
    """Adam over ``module``'s ``nnx.Param`` variables (see ``JaxOptimizer``)."""
    return JaxOptimizer(module, lr=lr, grad_clip=grad_clip, eps=eps)
