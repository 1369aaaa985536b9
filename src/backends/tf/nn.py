"""TensorFlow layers of the neutral ``nn`` namespace, as Keras 3 layers.

Every layer is a ``keras.layers.Layer`` whose variables are created in ``__init__``
from the canonical NumPy arrays of ``rlmodule_core.nn.initializers`` (so the same seed
gives the same weights as on every other backend) and stored in the canonical layouts,
which are TF's native ones: Dense ``kernel`` (in, out), Conv2D ``kernel``
(kh, kw, in, out) on NHWC inputs, LSTM gates i, f, g, o. They show up in
``module.trainable_variables`` and work with Keras optimizers.

Calling a layer runs its ``call`` directly rather than through ``keras.Layer.__call__``:
the layers are built at construction, take no ``training`` flag and need no input
conversion (the module converts its batch once), so Keras's per-call bookkeeping would
only cost time when running eagerly. Native Keras layers nested inside still see the
module's ``training`` flag, which the module sets through its own Keras call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from rlmodule_core.backend import scope
from rlmodule_core.nn import block as _core_block
from rlmodule_core.nn import conv
from rlmodule_core.nn import initializers as init
from rlmodule_core.nn.block import layer_dict

from . import ops
from ._keras import keras, tf
from .state import load_variables, named_state

__all__ = [
    "Activation",
    "activation_fn",
    "as_input",
    "Bias",
    "Block",
    "Conv2D",
    "Dense",
    "Dict",
    "Flatten",
    "Layer",
    "LayerNorm",
    "List",
    "LSTM",
    "Rebuildable",
    "Sequential",
]


def as_input(x: Any) -> tf.Tensor:
    """A layer input as a tensor: NumPy float64 becomes float32, like the module's batch."""
    if isinstance(x, np.ndarray | np.generic) and x.dtype == np.float64:
        x = x.astype(np.float32)
    return tf.convert_to_tensor(x)


class Rebuildable:
    """Pickling and deep copies by constructor arguments plus weights.

    Keras objects pickle through a Keras saving archive (``KerasSaveable.__reduce__``),
    which needs ``get_config`` and does not know these layers. Instead, the constructor
    arguments are recorded in ``__new__``; a copy is rebuilt from them and gets the
    weights (and the ``trainable`` flag) of the original.
    """

    # Use object.__reduce_ex__'s own protocol (__getstate__/__setstate__), not Keras's.
    __reduce__ = object.__reduce__

    def __new__(cls, *args: Any, **kwargs: Any):
        obj = super().__new__(cls, *args, **kwargs)
        object.__setattr__(obj, "_rlm_args", (args, kwargs))
        return obj

    def _ctor_args(self) -> tuple[tuple, dict[str, Any]]:
        return self._rlm_args

    def __getstate__(self) -> dict[str, Any]:
        return {
            "args": self._ctor_args(),
            "weights": {k: v.numpy() for k, v in named_state(self).items()},
            "trainable": self.trainable,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        args, kwargs = state["args"]
        object.__setattr__(self, "_rlm_args", (args, kwargs))
        # Nested neutral blocks made by setup() bind to the backend in scope.
        with scope.build_scope("tf", None):
            self.__init__(*args, **kwargs)
        load_variables(self, state["weights"])
        if not state["trainable"]:
            self.trainable = False


class Layer(Rebuildable, keras.layers.Layer):
    """Base of the TF layers: built at construction, called without Keras bookkeeping."""

    def __init__(self) -> None:
        super().__init__()
        self.built = True

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(x, tf.Tensor):
            x = as_input(x)
        return self.call(x, *args, **kwargs)

    def call(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _add_param(self, name: str, value: np.ndarray) -> keras.Variable:
        """A trainable variable holding ``value``, tracked as attribute ``name``."""
        variable = keras.Variable(initializer=value, dtype=str(value.dtype), name=name)
        setattr(self, name, variable)
        return variable


def _identity(x: tf.Tensor) -> tf.Tensor:
    return x


def _leaky_relu(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.leaky_relu(x, alpha=0.01)  # TF's default slope is 0.2; the contract's is 0.01


_ACTIVATIONS: dict[str | None, Callable[[tf.Tensor], tf.Tensor]] = {
    None: _identity,
    "relu": tf.nn.relu,
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
    "elu": tf.nn.elu,
    "swish": tf.nn.silu,
    "softplus": tf.nn.softplus,
    "leaky_relu": _leaky_relu,
}


def activation_fn(name: str | None) -> Callable[[tf.Tensor], tf.Tensor]:
    """The activation function for a name (validated by ``check_activation``)."""
    return _ACTIVATIONS[init.check_activation(name)]


class Activation(Layer):
    """An activation as a layer, for ``Sequential``."""

    def __init__(self, name: str | None) -> None:
        super().__init__()
        self.activation_name = init.check_activation(name)
        self._fn = _ACTIVATIONS[self.activation_name]

    def call(self, x):
        return self._fn(x)


class Dense(Layer):
    """``y = activation(x @ kernel + bias)``; kernel (in, out).

    Example:
        >>> layer = nn.Dense(4, 8, activation="tanh")
        >>> layer(tf.zeros((2, 4))).shape
        TensorShape([2, 8])
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
        super().__init__()
        params = init.dense_params(
            in_features, out_features, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
        )
        self.kernel = self._add_param("kernel", params["kernel"])
        self.bias = self._add_param("bias", params["bias"]) if use_bias else None
        self._act = activation_fn(activation)

    def call(self, x):
        if x.shape.rank == 2:
            y = tf.matmul(x, self.kernel)
        else:
            y = tf.tensordot(x, self.kernel, axes=1)
        if self.bias is not None:
            y = tf.nn.bias_add(y, self.bias)
        return self._act(y)


class Conv2D(Layer):
    """2-D convolution on NHWC inputs; kernel (kh, kw, in, out).

    ``padding="same"`` pads like TensorFlow (the extra pixel at the bottom/right).
    """

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
        super().__init__()
        self.kernel_size, self.stride, self.padding, params = conv.conv2d_args(
            in_channels, out_channels, kernel_size, stride, padding, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
        )
        self.kernel = self._add_param("kernel", params["kernel"])
        self.bias = self._add_param("bias", params["bias"]) if use_bias else None
        self._act = activation_fn(activation)

    def call(self, x):
        sh, sw = self.stride
        y = tf.nn.conv2d(x, self.kernel, strides=(1, sh, sw, 1), padding=self.padding.upper())
        if self.bias is not None:
            y = tf.nn.bias_add(y, self.bias)
        return self._act(y)


class LSTM(Layer):
    """A single-layer LSTM over (B, T, F) inputs; gates i, f, g, o.

    ``out, state = lstm(x, {"h": h, "c": c})`` with ``out`` (B, T, H); ``state=None``
    starts from zeros. A time axis known when tracing is unrolled; an unknown one (a
    ``tf.function`` generalized over sequence lengths) runs a ``tf.while_loop``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        params = init.lstm_params(input_size, hidden_size)
        self.kernel = self._add_param("kernel", params["kernel"])
        self.recurrent_kernel = self._add_param("recurrent_kernel", params["recurrent_kernel"])
        self.bias = self._add_param("bias", params["bias"])
        self.hidden_size = hidden_size

    def call(self, x, state: Mapping[str, Any] | None = None):
        hs = self.hidden_size
        if state is None:
            zeros = tf.zeros(tf.stack([tf.shape(x)[0], hs]), dtype=x.dtype)
            h, c = zeros, zeros
        else:
            h, c = as_input(state["h"]), as_input(state["c"])
        # All input projections at once; only the recurrence is sequential.
        inputs = tf.tensordot(x, self.kernel, axes=1) + self.bias
        recurrent = tf.convert_to_tensor(self.recurrent_kernel)

        def step(z_t, h, c):
            z = z_t + tf.matmul(h, recurrent)
            i, f, g, o = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            return tf.sigmoid(o) * tf.tanh(c), c

        steps = x.shape[1]
        if steps is not None:
            outputs = []
            for t in range(steps):
                h, c = step(inputs[:, t], h, c)
                outputs.append(h)
            if outputs:
                out = tf.stack(outputs, axis=1)
            else:
                out = tf.zeros(tf.stack([tf.shape(x)[0], 0, hs]), dtype=x.dtype)
            return out, {"h": h, "c": c}
        time_major = tf.transpose(inputs, (1, 0, 2))
        n = tf.shape(time_major)[0]
        collected = tf.TensorArray(x.dtype, size=n, element_shape=tf.TensorShape([None, hs]))

        def body(t, h, c, collected):
            h, c = step(time_major[t], h, c)
            return t + 1, h, c, collected.write(t, h)

        _, h, c, collected = tf.while_loop(lambda t, *_: t < n, body, (0, h, c, collected))
        return tf.transpose(collected.stack(), (1, 0, 2)), {"h": h, "c": c}


class LayerNorm(Layer):
    """Normalizes the last axis, then ``* scale + bias``."""

    def __init__(self, features: int, *, epsilon: float = 1e-5) -> None:
        super().__init__()
        params = init.layer_norm_params(features)
        self.scale = self._add_param("scale", params["scale"])
        self.bias = self._add_param("bias", params["bias"])
        self.epsilon = epsilon

    def call(self, x):
        mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + self.epsilon) * self.scale + self.bias


class Bias(Layer):
    """``x + bias``: a free parameter vector (e.g. a state-independent log-std)."""

    def __init__(self, features: int, *, initializer: init.InitSpec = "zeros") -> None:
        super().__init__()
        value = init.initialize(initializer, (features,), fan_in=1, fan_out=features, default="zeros")
        self.bias = self._add_param("bias", value)

    def call(self, x):
        return x + self.bias


class Flatten(Layer):
    """(B, ...) -> (B, prod(...)) in C order."""

    def call(self, x):
        inner = x.shape[1:]
        if inner.is_fully_defined():
            return tf.reshape(x, (-1, int(np.prod(inner.as_list()))))
        return tf.reshape(x, tf.stack([tf.shape(x)[0], -1]))


class List(Layer):
    """A list of layers; state paths ``<i>.<param>``."""

    def __init__(self, layers: Sequence[keras.layers.Layer] = ()) -> None:
        super().__init__()
        self._items = list(layers)  # Keras wraps it in a TrackedList: appends are tracked

    def _ctor_args(self) -> tuple[tuple, dict[str, Any]]:
        return (list(self._items),), {}

    def __getitem__(self, index: int) -> keras.layers.Layer:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[keras.layers.Layer]:
        return iter(self._items)

    def append(self, layer: keras.layers.Layer) -> None:
        self._items.append(layer)

    def children(self) -> list[tuple[str, Any]]:
        return [(str(i), layer) for i, layer in enumerate(self._items)]


class Dict(Layer):
    """A mapping of layers; state paths ``<key>.<param>`` (keys may not contain '.')."""

    def __init__(self, layers: Mapping[str, keras.layers.Layer] | None = None) -> None:
        super().__init__()
        layers = layer_dict(layers)
        self._items = layers

    def _ctor_args(self) -> tuple[tuple, dict[str, Any]]:
        return (dict(self._items),), {}

    def __getitem__(self, key: str) -> keras.layers.Layer:
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def keys(self):
        return self._items.keys()

    def items(self):
        return self._items.items()

    def values(self):
        return self._items.values()

    def children(self) -> list[tuple[str, Any]]:
        return list(self._items.items())


class Sequential(Layer):
    """Applies ``layers`` in order; state paths ``layers.<i>.<param>``.

    Example:
        >>> mlp = nn.Sequential([nn.Dense(4, 64, activation="tanh"), nn.Dense(64, 2)])
    """

    def __init__(self, layers: Sequence[keras.layers.Layer]) -> None:
        super().__init__()
        self.layers = List(layers)

    def _ctor_args(self) -> tuple[tuple, dict[str, Any]]:
        return (list(self.layers._items),), {}

    def call(self, x):
        for layer in self.layers._items:
            x = layer(x)
        return x


class Block(Rebuildable, _core_block.Block, keras.layers.Layer):
    """Framework base of neutral blocks on TF: a Keras layer whose call runs ``forward``.

    See ``rlmodule_core.Block``. Sub-layers made in ``setup()`` are tracked by Keras, so
    their variables belong to the module that holds the block.
    """

    _backend_name = "tf"
    ops = ops

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if scope.current_scope() is None:
            # Built outside a module: nested neutral blocks bind to TF, not the default.
            with scope.build_scope("tf", None):
                super().__init__(*args, **kwargs)
        else:
            super().__init__(*args, **kwargs)

    def _init_framework(self) -> None:
        keras.layers.Layer.__init__(self)
        self.built = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def call(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)


Block.nn = sys.modules[__name__]

