"""Flax NNX layers for the neutral ``nn`` namespace.

Each layer is an ``nnx.Module`` whose parameters are ``nnx.Param`` variables, created at
construction from the canonical NumPy arrays of ``rlmodule_core.nn.initializers`` (so the
same seed gives bit-identical weights on every backend; ``nnx.Rngs`` is not used). The
parameters are stored in the canonical layouts, which are also JAX's natural ones: Dense
``kernel`` (in, out), Conv2D ``kernel`` (kh, kw, in, out) on NHWC inputs, LSTM gates i, f,
g, o. Their NNX state paths are the canonical state keys (``layers.0.kernel``).

Example:
    >>> from rlmodule_jax import nn
    >>> mlp = nn.Sequential([nn.Dense(4, 64, activation="tanh"), nn.Dense(64, 2)])
    >>> sorted(".".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(mlp)))[:2]
    ['layers.0.bias', 'layers.0.kernel']
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx import graph as nnx_graph

from rlmodule_core.nn import block as _core_block
from rlmodule_core.nn import conv
from rlmodule_core.nn import initializers as init
from rlmodule_core.nn.block import layer_dict

from . import ops

__all__ = [
    "Activation",
    "activation_fn",
    "Bias",
    "Block",
    "Conv2D",
    "Dense",
    "Dict",
    "Flatten",
    "LayerNorm",
    "List",
    "LSTM",
    "Sequential",
]


def _param(array: Any) -> nnx.Param:
    return nnx.Param(jnp.asarray(array))


def _read(variable: nnx.Variable) -> jax.Array:
    # The raw value skips get_value()'s defensive copy (about 3 us per parameter in eager
    # mode); these layers own their variables and attach no value hooks.
    return variable.get_raw_value()


# Named functions, not lambdas or jnp functions: layers hold them, and modules must
# pickle (jnp.tanh does not pickle by reference).
def _identity(x):
    return x


def _relu(x):
    return jax.nn.relu(x)


def _tanh(x):
    return jnp.tanh(x)


def _sigmoid(x):
    return jax.nn.sigmoid(x)


def _elu(x):
    return jax.nn.elu(x)


def _swish(x):
    return jax.nn.silu(x)


def _softplus(x):
    return jnp.logaddexp(x, 0.0)


def _leaky_relu(x):
    return jnp.where(x > 0, x, 0.01 * x)


_ACTIVATIONS: dict[str | None, Callable[[jax.Array], jax.Array]] = {
    None: _identity,
    "relu": _relu,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "elu": _elu,
    "swish": _swish,
    "softplus": _softplus,
    "leaky_relu": _leaky_relu,
}


def activation_fn(name: str | None) -> Callable[[jax.Array], jax.Array]:
    """The activation function for a name (validated by ``check_activation``)."""
    return _ACTIVATIONS[init.check_activation(name)]


class Activation(nnx.Module):
    """An activation as a layer, for ``Sequential``."""

    def __init__(self, name: str | None) -> None:
        self.name = init.check_activation(name)
        self._fn = _ACTIVATIONS[self.name]

    def __call__(self, x):
        return self._fn(x)


class Dense(nnx.Module):
    """``y = activation(x @ kernel + bias)``; kernel (in, out).

    Example:
        >>> layer = Dense(4, 2, activation="relu")
        >>> layer(jnp.ones((3, 4))).shape
        (3, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: init.InitSpec = None,
        bias_initializer: init.InitSpec = None,
    ) -> None:
        params = init.dense_params(
            in_features, out_features, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
        )
        self.kernel = _param(params["kernel"])
        self.bias = _param(params["bias"]) if use_bias else None
        self._act = activation_fn(activation)

    def __call__(self, x):
        y = x @ _read(self.kernel)
        if self.bias is not None:
            y = y + _read(self.bias)
        return self._act(y)


class Conv2D(nnx.Module):
    """2-D convolution on NHWC inputs; kernel (kh, kw, in, out); "same" pads like TF."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: str = "valid",
        *,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: init.InitSpec = None,
        bias_initializer: init.InitSpec = None,
    ) -> None:
        self.kernel_size, self.stride, padding, params = conv.conv2d_args(
            in_channels, out_channels, kernel_size, stride, padding, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
        )
        # lax's "SAME" is TensorFlow's: output ceil(size / stride), the extra pixel at the end.
        self.padding = padding.upper()
        self.kernel = _param(params["kernel"])
        self.bias = _param(params["bias"]) if use_bias else None
        self._act = activation_fn(activation)

    def __call__(self, x):
        y = jax.lax.conv_general_dilated(
            x, _read(self.kernel), self.stride, self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        if self.bias is not None:
            y = y + _read(self.bias)
        return self._act(y)


class LSTM(nnx.Module):
    """A single-layer LSTM over (B, T, F) inputs; gates i, f, g, o.

    ``out, state = lstm(x, {"h": h, "c": c})`` with ``out`` (B, T, H); ``state=None``
    starts from zeros. The recurrence runs as one ``jax.lax.scan``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        params = init.lstm_params(input_size, hidden_size)
        self.kernel = _param(params["kernel"])
        self.recurrent_kernel = _param(params["recurrent_kernel"])
        self.bias = _param(params["bias"])
        self.hidden_size = hidden_size

    def __call__(self, x, state: Mapping[str, Any] | None = None):
        batch = x.shape[0]
        hs = self.hidden_size
        if state is None:
            h = jnp.zeros((batch, hs), dtype=x.dtype)
            c = jnp.zeros((batch, hs), dtype=x.dtype)
        else:
            h, c = jnp.asarray(state["h"]), jnp.asarray(state["c"])
        inputs = x @ _read(self.kernel) + _read(self.bias)  # all steps at once
        recurrent = _read(self.recurrent_kernel)

        def step(carry, z_in):
            h, c = carry
            z = z_in + h @ recurrent
            i, f = jax.nn.sigmoid(z[:, :hs]), jax.nn.sigmoid(z[:, hs : 2 * hs])
            g, o = jnp.tanh(z[:, 2 * hs : 3 * hs]), jax.nn.sigmoid(z[:, 3 * hs :])
            c = f * c + i * g
            h = o * jnp.tanh(c)
            return (h, c), h

        (h, c), outs = jax.lax.scan(step, (h, c), jnp.swapaxes(inputs, 0, 1))
        return jnp.swapaxes(outs, 0, 1), {"h": h, "c": c}


class LayerNorm(nnx.Module):
    """Normalizes the last axis, then ``* scale + bias``."""

    def __init__(self, features: int, *, epsilon: float = 1e-5) -> None:
        params = init.layer_norm_params(features)
        self.scale = _param(params["scale"])
        self.bias = _param(params["bias"])
        self.epsilon = float(epsilon)

    def __call__(self, x):
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * _read(self.scale) + _read(self.bias)


class Bias(nnx.Module):
    """``x + bias``: a free parameter vector (e.g. a state-independent log-std)."""

    def __init__(self, features: int, *, initializer: init.InitSpec = "zeros") -> None:
        self.bias = _param(
            init.initialize(initializer, (features,), fan_in=1, fan_out=features, default="zeros")
        )

    def __call__(self, x):
        return x + _read(self.bias)


class Flatten(nnx.Module):
    """(B, ...) -> (B, prod(...)) in C order."""

    def __call__(self, x):
        return jnp.reshape(x, (x.shape[0], -1))


class List(nnx.List):
    """A list of layers (an ``nnx.List``); state paths ``<i>.<param>``."""

    def __init__(self, layers: Sequence[Any] = ()) -> None:
        # The contract's keyword is ``layers`` (nnx.List calls it ``it``).
        super().__init__(layers)


class Dict(Mapping):
    """A mapping of layers; state paths ``<key>.<param>`` (keys may not contain '.').

    Any key works, as on every backend: keys starting with ``_`` and keys equal to a
    method name (``"keys"``, ``"train"``, ...) included (observation keys are not ours to
    pick). It is an NNX graph node of its own (not an attribute-holding ``nnx.Module``),
    so ``nnx.state``/``split``/``merge``, ``train()``/``eval()`` and the compiled forwards
    see its layers under their keys, in insertion order. ``dict_of_layers.key`` works
    too (as on torch), unless ``key`` names a method.

    Example:
        >>> heads = Dict({"keys": Dense(3, 8), "_private": Dense(5, 8)})
        >>> heads["keys"](jnp.zeros((1, 3))).shape
        (1, 8)
    """

    def __init__(self, layers: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_entries", layer_dict(layers))

    def __getitem__(self, key: str) -> Any:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal look-up fails: entries by attribute, as on torch.
        entries = self.__dict__.get("_entries")
        if entries is not None and name in entries:
            return entries[name]
        raise AttributeError(f"{type(self).__qualname__!r} object has no attribute or key {name!r}")

    def __delattr__(self, name: str) -> None:
        # Inference-only slimming deletes entries by attribute path, as on torch.
        if name in self._entries:
            del self._entries[name]
        else:
            object.__delattr__(self, name)

    # Identity semantics, like the modules it holds (Mapping would compare by value).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"Dict({self._entries!r})"


def _dict_flatten(node: Dict) -> tuple[list[tuple[str, Any]], tuple[str, ...]]:
    # Sorted like NNX's own nodes; the insertion order travels as static aux data, so a
    # merged copy (compiled forwards) iterates its entries in the same order.
    entries = node._entries
    return sorted(entries.items()), tuple(entries)


def _dict_create_empty(order: tuple[str, ...]) -> Dict:
    node = Dict.__new__(Dict)
    object.__setattr__(node, "_entries", {})
    object.__setattr__(node, "_order", order)
    return node


def _dict_init(node: Dict, items: Iterable[tuple[str, Any]]) -> None:
    given = dict(items)
    order = node.__dict__.pop("_order", ())
    node._entries.update((key, given.pop(key)) for key in order if key in given)
    node._entries.update(given)


def _dict_set_key(node: Dict, key: str, value: Any) -> None:
    node._entries[key] = value


def _dict_pop_key(node: Dict, key: str) -> Any:
    return node._entries.pop(key)


def _dict_clear(node: Dict) -> None:
    node._entries.clear()


nnx_graph.register_graph_node_type(
    Dict, _dict_flatten, _dict_set_key, _dict_pop_key, _dict_create_empty, _dict_clear, _dict_init
)


class Sequential(nnx.Module):
    """Applies ``layers`` in order; state paths ``layers.<i>.<param>``."""

    def __init__(self, layers: Sequence[Any]) -> None:
        self.layers = List(layers)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Block(_core_block.Block, nnx.Module):
    """Framework base of neutral blocks on JAX: an ``nnx.Module`` whose call runs ``forward``.

    See ``rlmodule_core.Block``. Native ``nnx`` layers built in a block's ``setup()`` can use
    ``self.rngs`` (seeded from the module's ``model_config["seed"]``).
    """

    _backend_name = "jax"
    ops = ops

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        from .module import setup_rngs

        return setup_rngs(self, name)


Block.nn = sys.modules[__name__]
