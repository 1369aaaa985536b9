"""NumPy layers: the reference implementation of the neutral ``nn`` namespace.

Parameters are plain ``np.ndarray`` attributes in the canonical layouts (Dense
``kernel`` (in, out), Conv2D ``kernel`` (kh, kw, in, out) on NHWC inputs, LSTM gates
i, f, g, o), so this file doubles as the specification of what every backend computes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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
    "Layer",
    "LayerNorm",
    "List",
    "LSTM",
    "Sequential",
    "with_plain_dict",
]


def with_plain_dict(obj: Any) -> Any:
    """``obj`` with a plain ``dict`` as its ``__dict__``; for ``__new__`` of layers and modules.

    CPython 3.11 and 3.12 keep a new instance's attributes in a key-sharing layout; once
    its ``__dict__`` is touched (``vars()`` in the state walk, pickling, copying), every
    attribute read on it falls back to the slow generic look-up, ~5x slower. A forward
    pass reads ~30 attributes of the module, its blocks and layers: ~10% of a batch-1
    pass. An ordinary dict, set before the first attribute, keeps reads fast for good.
    """
    obj.__dict__ = {}
    return obj


class Layer:
    """Base of NumPy layers. ``_param_names`` lists the array attributes in the state.

    Calling a layer runs its ``forward``: every class's ``__call__`` *is* its ``forward``
    (set per class, blocks bound to this backend included, unless a class defines its own
    ``__call__``), which spares a forwarding frame with ``*args, **kwargs`` packing per
    layer, ~0.15 us each, about a quarter of a small policy's overhead at batch 1.
    """

    _param_names: tuple[str, ...] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return with_plain_dict(super().__new__(cls))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        defines_call = next(
            c for c in cls.__mro__ if "__call__" in vars(c) and not vars(c).get("_call_is_forward")
        )
        if defines_call is Layer:
            cls.__call__ = cls.forward
            cls._call_is_forward = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


# Named functions, not lambdas: layers hold them, and modules must pickle.
def _identity(x):
    return x


def _relu(x):
    return np.maximum(x, 0)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _swish(x):
    return x * _sigmoid(x)


def _softplus(x):
    return np.logaddexp(x, 0).astype(x.dtype)


def _leaky_relu(x):
    return np.where(x > 0, x, 0.01 * x)


_ACTIVATIONS: dict[str | None, Callable[[np.ndarray], np.ndarray]] = {
    None: _identity,
    "relu": _relu,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "elu": _elu,
    "swish": _swish,
    "softplus": _softplus,
    "leaky_relu": _leaky_relu,
}


def activation_fn(name: str | None) -> Callable[[np.ndarray], np.ndarray]:
    """The activation function for a name (validated by ``check_activation``)."""
    return _ACTIVATIONS[init.check_activation(name)]


class Activation(Layer):
    """An activation as a layer, for ``Sequential``."""

    def __init__(self, name: str | None) -> None:
        self.name = init.check_activation(name)
        self._fn = _ACTIVATIONS[self.name]

    def forward(self, x):
        return self._fn(x)


class Dense(Layer):
    """``y = activation(x @ kernel + bias)``; kernel (in, out)."""

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
        self.kernel = params["kernel"]
        self.bias = params.get("bias")
        self._param_names = tuple(params)
        self._act = activation_fn(activation)

    def forward(self, x):
        y = x @ self.kernel
        if self.bias is not None:
            y += self.bias
        act = self._act
        return y if act is _identity else act(y)  # a linear layer skips the call



class Conv2D(Layer):
    """2-D convolution on NHWC inputs; kernel (kh, kw, in, out)."""

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
        self.kernel_size, self.stride, self.padding, params = conv.conv2d_args(
            in_channels, out_channels, kernel_size, stride, padding, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
        )
        self.kernel = params["kernel"]
        self.bias = params.get("bias")
        self._param_names = tuple(params)
        self._act = activation_fn(activation)

    def forward(self, x):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if self.padding == "same":
            ph, pw = conv.same_padding(x.shape[1], kh, sh), conv.same_padding(x.shape[2], kw, sw)
            x = np.pad(x, ((0, 0), ph, pw, (0, 0)))
        windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
        # windows: (B, H', W', C, kh, kw); kernel: (kh, kw, C, out).
        y = np.tensordot(windows, self.kernel, axes=([4, 5, 3], [0, 1, 2]))
        if self.bias is not None:
            y += self.bias
        return self._act(y.astype(x.dtype, copy=False))


class LSTM(Layer):
    """A single-layer LSTM over (B, T, F) inputs; gates i, f, g, o.

    ``out, state = lstm(x, {"h": h, "c": c})`` with ``out`` (B, T, H); ``state=None``
    starts from zeros.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        params = init.lstm_params(input_size, hidden_size)
        self.kernel = params["kernel"]
        self.recurrent_kernel = params["recurrent_kernel"]
        self.bias = params["bias"]
        self._param_names = tuple(params)
        self.hidden_size = hidden_size

    def forward(self, x, state: Mapping[str, np.ndarray] | None = None):
        batch, steps = x.shape[0], x.shape[1]
        hs = self.hidden_size
        if state is None:
            h = np.zeros((batch, hs), dtype=x.dtype)
            c = np.zeros((batch, hs), dtype=x.dtype)
        else:
            h, c = state["h"], state["c"]
        inputs = x @ self.kernel + self.bias  # all steps at once; only the recurrence loops
        outputs = []
        for t in range(steps):
            z = inputs[:, t] + h @ self.recurrent_kernel
            i, f = _sigmoid(z[:, :hs]), _sigmoid(z[:, hs : 2 * hs])
            g, o = np.tanh(z[:, 2 * hs : 3 * hs]), _sigmoid(z[:, 3 * hs :])
            c = f * c + i * g
            h = o * np.tanh(c)
            outputs.append(h)
        out = np.stack(outputs, axis=1) if outputs else np.zeros((batch, 0, hs), x.dtype)
        return out, {"h": h, "c": c}


class LayerNorm(Layer):
    """Normalizes the last axis, then ``* scale + bias``."""

    def __init__(self, features: int, *, epsilon: float = 1e-5) -> None:
        params = init.layer_norm_params(features)
        self.scale, self.bias = params["scale"], params["bias"]
        self._param_names = ("scale", "bias")
        self.epsilon = epsilon

    def forward(self, x):
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.epsilon) * self.scale + self.bias


class Bias(Layer):
    """``x + bias``: a free parameter vector (e.g. a state-independent log-std)."""

    def __init__(self, features: int, *, initializer: init.InitSpec = "zeros") -> None:
        self.bias = init.initialize(initializer, (features,), fan_in=1, fan_out=features, default="zeros")
        self._param_names = ("bias",)

    def forward(self, x):
        return x + self.bias


class Flatten(Layer):
    """(B, ...) -> (B, prod(...)) in C order."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class List(Layer):
    """A list of layers; state paths ``<i>.<param>``."""

    def __init__(self, layers: Sequence[Layer] = ()) -> None:
        self._items = list(layers)

    def __getitem__(self, index: int) -> Layer:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._items)

    def append(self, layer: Layer) -> None:
        self._items.append(layer)

    def children(self) -> list[tuple[str, Any]]:
        return [(str(i), layer) for i, layer in enumerate(self._items)]


class Dict(Layer):
    """A mapping of layers; state paths ``<key>.<param>`` (keys may not contain '.')."""

    def __init__(self, layers: Mapping[str, Layer] | None = None) -> None:
        layers = layer_dict(layers)
        self._items = layers

    def __getitem__(self, key: str) -> Layer:
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
    """Applies ``layers`` in order; state paths ``layers.<i>.<param>``."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = List(layers)

    def forward(self, x):
        for layer in self.layers._items:
            x = layer(x)
        return x


class Block(_core_block.Block, Layer):
    """Framework base of neutral blocks on NumPy (see ``rlmodule_core.Block``)."""

    _backend_name = "numpy"
    ops = ops


Block.nn = sys.modules[__name__]
