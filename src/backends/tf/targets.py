"""Target networks on TF: frozen copies and polyak updates with ``Variable.assign``."""

from __future__ import annotations

import copy

from rlmodule_core.backend.polyak import check_polyak

from ._keras import keras
from .module import TfRLModule
from .nn import Rebuildable
from .state import load_variables, named_state

__all__ = ["make_target_network", "update_target_network"]


def make_target_network(net: keras.layers.Layer) -> keras.layers.Layer:
    """An independent copy of ``net`` with equal weights and ``trainable=False``.

    The copy's variables are new Keras variables, left out of ``trainable_variables``
    (so optimizers and gradient tapes over them skip the target). Neutral layers and
    blocks are rebuilt from their constructor arguments; native Keras layers from their
    Keras config (``from_config``, ``build_from_config``), then the weights are copied.

    Example:
        >>> self._target_qf = make_target_network(self.qf)
    """
    if not isinstance(net, keras.layers.Layer):
        raise TypeError(
            f"make_target_network expects a Keras layer (a neutral layer or block, or a "
            f"keras.layers.Layer); received {type(net).__name__}."
        )
    if isinstance(net, Rebuildable | TfRLModule):
        target = copy.deepcopy(net)
    else:
        target = _clone_keras_layer(net)
    target.trainable = False
    return target


def _clone_keras_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    try:
        clone = type(layer).from_config(layer.get_config())
        if layer.built and not clone.built:
            build_config = layer.get_build_config()
            if build_config:
                clone.build_from_config(build_config)
    except Exception as err:
        raise TypeError(
            f"make_target_network could not copy the Keras layer {layer.name!r} "
            f"({type(layer).__name__}) from its config: {err}. Give the layer a get_config() "
            "that returns its constructor arguments, or build the network from neutral layers."
        ) from err
    load_variables(clone, {k: v.numpy() for k, v in named_state(layer).items()})
    return clone


def update_target_network(main: keras.layers.Layer, target: keras.layers.Layer, tau: float) -> None:
    """``target <- tau * main + (1 - tau) * target`` in place; ``tau=1.0`` copies.

    Raises:
        ValueError: ``tau`` outside [0, 1], or the two networks' variables differ.
    """
    sources, targets = named_state(main), named_state(target)
    check_polyak(tau, sources, targets)
    for key, source in sources.items():
        if tau == 1.0:
            targets[key].assign(source)
        else:
            targets[key].assign(tau * source.value + (1.0 - tau) * targets[key].value)
