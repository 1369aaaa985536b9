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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from rlmodule_core.nn import block as _core_block
from rlmodule_core.nn import conv
from rlmodule_core.nn import initializers as init
from rlmodule_core.nn.block import layer_dict

from . import ops


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


class Dict(nnx.Dict):
    """A mapping of layers (an ``nnx.Dict``); state paths ``<key>.<param>``.

    Keys are attribute names of the NNX module, so they may not contain '.', start with
    '_' or shadow a method (``keys``, ``items``, ``train``, ...).
    """

    def __init__(self, layers: Mapping[str, Any] | None = None) -> None:
        layers = layer_dict(layers)
        for key in layers:
            if key.startswith("_"):
                raise ValueError(
                    "Dict keys must be non-empty strings without '.' that do not start with "
                    f"'_'; received {key!r}. Rename the entry."
                )
            if hasattr(type(self), key):
                raise ValueError(
                    f"Dict key {key!r} would shadow the method {type(self).__name__}.{key} of "
                    "the Flax NNX module that stores the entries. Rename the entry."
                )
        super().__init__(layers)

    def __iter__(self) -> Iterator[str]:
        return (k for k in vars(self) if not k.startswith("_"))


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
