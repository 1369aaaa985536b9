"""ONNX layers: the neutral ``nn`` namespace, each layer emitting its ONNX nodes.

Parameters are NumPy arrays in the canonical layouts (exactly as the NumPy backend
holds them), so a checkpoint from any backend loads here. Called on a traced
``Sym``, a layer appends nodes named after its path in the
module (``encoder.mlp.layers.0/Gemm``) and its parameters become initializers named
after their state keys (``encoder.mlp.layers.0.kernel``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from rlmodule_core.nn import block as _core_block
from rlmodule_core.nn import conv
from rlmodule_core.nn import initializers as init
from rlmodule_core.nn.block import layer_dict

from . import ops
from .graph import Dim, Sym, current_graph

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
]


class Layer:
    """Base of ONNX layers. ``_param_names`` lists the array attributes in the state.

    Calling a layer runs its ``forward`` inside the layer's scope, so the nodes it adds
    carry its path and an export error names it.
    """

    _param_names: tuple[str, ...] = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with current_graph(f"nn.{type(self).__name__}").scope(self):
            return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


# ---- activations ---------------------------------------------------------------------------


def _identity(x):
    return x


def _swish(x):
    return x * ops.sigmoid(x)


def _elu(x):
    return x.graph.emit("Elu", [x], x.dtype, x.shape, alpha=1.0)


def _leaky_relu(x):
    return x.graph.emit("LeakyRelu", [x], x.dtype, x.shape, alpha=0.01)


_ACTIVATIONS: dict[str | None, Callable[[Sym], Sym]] = {
    None: _identity,
    "relu": ops.relu,
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
    "elu": _elu,
    "swish": _swish,
    "softplus": ops.softplus,
    "leaky_relu": _leaky_relu,
}


def activation_fn(name: str | None) -> Callable[[Sym], Sym]:
    """The activation for a name (validated by ``check_activation``)."""
    return _ACTIVATIONS[init.check_activation(name)]


class Activation(Layer):
    """An activation as a layer, for ``Sequential``."""

    def __init__(self, name: str | None) -> None:
        self.name = init.check_activation(name)
        self._fn = _ACTIVATIONS[self.name]

    def forward(self, x):
        return self._fn(x)


# ---- parametrized layers ---------------------------------------------------------------------


class Dense(Layer):
    """``activation(x @ kernel + bias)``: one ``Gemm`` on (B, in) inputs, else ``MatMul`` + ``Add``."""

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
        x = ops.cast(x, "float32")
        graph = x.graph
        shape = x.shape[:-1] + (self.kernel.shape[1],)
        kernel = graph.param(self.kernel)
        if x.ndim == 2 and self.bias is not None:
            y = graph.emit("Gemm", [x, kernel, graph.param(self.bias)], np.float32, shape)
        else:
            y = graph.emit("MatMul", [x, kernel], np.float32, shape)
            if self.bias is not None:
                y = graph.emit("Add", [y, graph.param(self.bias)], np.float32, shape)
        return self._act(y)


def _oihw(kernel: np.ndarray) -> np.ndarray:
    return kernel.transpose(3, 2, 0, 1)


class Conv2D(Layer):
    """2-D convolution on NHWC inputs: ``Transpose`` to NCHW, ``Conv``, ``Transpose`` back.

    A Conv2D fed by another Conv2D takes the NCHW tensor directly, so a conv stack has
    one transpose at each end. "same" padding is TensorFlow's (the extra pixel at the
    end), written as explicit pads.
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
        self.kernel_size, self.stride, self.padding, params = conv.conv2d_args(
            in_channels, out_channels, kernel_size, stride, padding, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
        )
        self.kernel = params["kernel"]
        self.bias = params.get("bias")
        self._param_names = tuple(params)
        self._act = activation_fn(activation)

    def forward(self, x):
        x = ops.cast(x, "float32")
        graph = x.graph
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        batch, height, width, _ = x.shape
        if isinstance(height, Dim) or isinstance(width, Dim):
            raise graph.error("Conv2D over run-time image sizes", "the image height and width must be fixed")
        nchw = x.nchw if x.nchw is not None else graph.emit(
            "Transpose", [x], np.float32, (batch, x.shape[3], height, width), perm=[0, 3, 1, 2]
        )
        if self.padding == "same":
            (top, bottom), (left, right) = conv.same_padding(height, kh, sh), conv.same_padding(width, kw, sw)
        else:
            top = bottom = left = right = 0
        out_h = conv.output_size(height, kh, sh, self.padding)
        out_w = conv.output_size(width, kw, sw, self.padding)
        channels = self.kernel.shape[3]
        inputs = [nchw, graph.param(self.kernel, _oihw, ".oihw")]
        if self.bias is not None:
            inputs.append(graph.param(self.bias))
        y = graph.emit(
            "Conv", inputs, np.float32, (batch, channels, out_h, out_w),
            kernel_shape=[kh, kw], strides=[sh, sw], pads=[top, left, bottom, right],
        )
        y = self._act(y)
        out = graph.emit("Transpose", [y], np.float32, (batch, out_h, out_w, channels), perm=[0, 2, 3, 1])
        out.nchw = y
        return out


def _gates_iofc(matrix: np.ndarray) -> np.ndarray:
    """(rows, 4H) in gate order i, f, g, o -> (4H, rows) in ONNX's order i, o, f, c."""
    i, f, g, o = np.split(matrix, 4, axis=-1)
    return np.concatenate([i, o, f, g], axis=-1).T


def _bias_iofc(bias: np.ndarray) -> np.ndarray:
    """ONNX's B: the input bias in order i, o, f, c, then a zero recurrent bias; (1, 8H)."""
    i, f, g, o = np.split(bias, 4)
    return np.concatenate([i, o, f, g, np.zeros_like(bias)])[None]


class LSTM(Layer):
    """A single-layer LSTM over (B, T, F) inputs: one ONNX ``LSTM`` node.

    ``out, state = lstm(x, {"h": h, "c": c})``; ``state=None`` starts from zeros. The
    canonical gates i, f, g, o are re-ordered into ONNX's i, o, f, c in the initializers.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        params = init.lstm_params(input_size, hidden_size)
        self.kernel = params["kernel"]
        self.recurrent_kernel = params["recurrent_kernel"]
        self.bias = params["bias"]
        self._param_names = tuple(params)
        self.hidden_size = hidden_size

    def forward(self, x, state: Mapping[str, Sym] | None = None):
        x = ops.cast(x, "float32")
        graph = x.graph
        batch, steps = x.shape[0], x.shape[1]
        hs = self.hidden_size
        seq_first = graph.emit("Transpose", [x], np.float32, (steps, batch, x.shape[2]), perm=[1, 0, 2])
        inputs = [
            seq_first.name,
            graph.param(self.kernel, lambda k: _gates_iofc(k)[None], ".W_iofc"),
            graph.param(self.recurrent_kernel, lambda k: _gates_iofc(k)[None], ".R_iofc"),
            graph.param(self.bias, _bias_iofc, ".B_iofc"),
        ]
        if state is not None:
            initial = [ops.expand_dims(ops.cast(state[k], "float32"), 0) for k in ("h", "c")]
            inputs += ["", initial[0].name, initial[1].name]
        y, y_h, y_c = graph.add("LSTM", inputs, 3, hidden_size=hs)
        out = graph.sym(y, np.float32, (steps, 1, batch, hs))
        out = ops.squeeze(out, 1)
        out = graph.emit("Transpose", [out], np.float32, (batch, steps, hs), perm=[1, 0, 2])
        h = ops.squeeze(graph.sym(y_h, np.float32, (1, batch, hs)), 0)
        c = ops.squeeze(graph.sym(y_c, np.float32, (1, batch, hs)), 0)
        return out, {"h": h, "c": c}


class LayerNorm(Layer):
    """Normalizes the last axis, then ``* scale + bias`` (``LayerNormalization`` from opset 17)."""

    def __init__(self, features: int, *, epsilon: float = 1e-5) -> None:
        params = init.layer_norm_params(features)
        self.scale, self.bias = params["scale"], params["bias"]
        self._param_names = ("scale", "bias")
        self.epsilon = epsilon

    def forward(self, x):
        x = ops.cast(x, "float32")
        graph = x.graph
        scale, bias = graph.param(self.scale), graph.param(self.bias)
        if graph.opset >= 17:
            return graph.emit(
                "LayerNormalization", [x, scale, bias], np.float32, x.shape, axis=-1, epsilon=self.epsilon
            )
        centered = x - ops.mean(x, axis=-1, keepdims=True)
        var = ops.mean(ops.square(centered), axis=-1, keepdims=True)
        normed = centered / ops.sqrt(var + self.epsilon)
        return normed * graph.sym(scale, np.float32, self.scale.shape) + graph.sym(bias, np.float32, self.bias.shape)


class Bias(Layer):
    """``x + bias``: a free parameter vector (e.g. a state-independent log-std)."""

    def __init__(self, features: int, *, initializer: init.InitSpec = "zeros") -> None:
        self.bias = init.initialize(initializer, (features,), fan_in=1, fan_out=features, default="zeros")
        self._param_names = ("bias",)

    def forward(self, x):
        x = ops.asarray(x)
        return x + x.graph.sym(x.graph.param(self.bias), np.float32, self.bias.shape)


class Flatten(Layer):
    """(B, ...) -> (B, prod(...)) in C order: one ``Flatten`` node."""

    def forward(self, x):
        x = ops.asarray(x)
        rest = 1
        for d in x.shape[1:]:
            if isinstance(d, Dim):
                raise x.graph.error("Flatten over a run-time axis", "only the first (batch) axis may vary")
            rest *= int(d)
        return x.graph.emit("Flatten", [x], x.dtype, (x.shape[0], rest), axis=1)


# ---- containers ------------------------------------------------------------------------------


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
        self._items = layer_dict(layers)

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
        for layer in self.layers:
            x = layer(x)
        return x


class Block(_core_block.Block, Layer):
    """Framework base of neutral blocks on the ONNX backend (see ``rlmodule_core.Block``)."""

    _backend_name = "onnx"
    ops = ops


Block.nn = sys.modules[__name__]
