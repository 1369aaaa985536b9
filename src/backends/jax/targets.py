"""Target networks on JAX: independent NNX copies whose parameters are not ``nnx.Param``.

``make_target_network`` clones the network and turns every ``nnx.Param`` of the copy into
a ``TargetParam`` (a plain ``nnx.Variable`` type). ``nnx.grad``/``nnx.value_and_grad``
and ``nnx.Optimizer`` differentiate and update ``nnx.Param`` by default, so a loss that
reads the target network gets no gradient for it and an optimizer step leaves it alone;
the copy is still part of the module's state (``get_state``/``set_state``/checkpoints).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from rlmodule_core.backend.polyak import check_polyak

from .state import named_state

__all__ = ["make_target_network", "TargetParam", "update_target_network"]


class TargetParam(nnx.Variable):
    """A target-network parameter: part of the state, not of ``nnx.Param``'s gradients."""


def _freeze(node: Any) -> None:
    """Replaces every ``nnx.Param`` attribute under ``node`` with a ``TargetParam``."""
    # Collected first: the attributes are replaced while nothing iterates the graph.
    objects = [obj for _, obj in nnx.iter_graph(node) if isinstance(obj, nnx.Pytree)]
    for obj in objects:
        for name, value in list(vars(obj).items()):
            if isinstance(value, nnx.Param):
                object.__setattr__(obj, name, TargetParam(value.get_raw_value()))


def make_target_network(net: Any) -> Any:
    """An independent copy of ``net`` with equal weights, excluded from gradients.

    Example:
        >>> self._target_qf = make_target_network(self.qf)
    """
    # arrays=True: the copy must not share buffers with ``net``, or a jitted train step
    # that donates the main network's arrays would delete the target's too.
    copy = nnx.clone(net, arrays=True)
    _freeze(copy)
    return copy


@jax.jit
def _polyak(main: list[jax.Array], target: list[jax.Array], tau: jax.Array) -> list[jax.Array]:
    return jax.tree.map(lambda m, t: tau * m + (1.0 - tau) * t, main, target)


@jax.jit
def _copy(arrays: list[jax.Array]) -> list[jax.Array]:
    return [jax.numpy.array(a, copy=True) for a in arrays]


def update_target_network(main: Any, target: Any, tau: float) -> None:
    """``target <- tau * main + (1 - tau) * target`` in place; ``tau=1.0`` copies.

    The new values are written into the target's existing variables, so compiled
    forward passes and ``nnx.split`` states that hold them see the update.

    Raises:
        ValueError: ``tau`` outside [0, 1], or the two networks' parameters differ.
    """
    sources, targets = named_state(main), named_state(target)
    check_polyak(tau, sources, targets)
    keys = list(sources)
    main_values = [sources[k].get_raw_value() for k in keys]
    if tau == 1.0:
        # Copies, not shared arrays: a train step that donates the main network's buffers
        # must not delete the target's.
        new_values = _copy(main_values)
    else:
        target_values = [targets[k].get_raw_value() for k in keys]
        new_values = _polyak(main_values, target_values, jax.numpy.float32(tau))
    for key, value in zip(keys, new_values, strict=True):
        targets[key].set_raw_value(value)
