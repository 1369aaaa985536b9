"""PyTorch layers of the neutral ``nn`` namespace.

Every layer is a ``torch.nn.Module``. Layers with a torch counterpart store their
parameters as it does, so they run the same kernels and their ``state_dict()`` loads into
it: ``Dense`` like ``torch.nn.Linear`` (``weight`` (out, in), ``bias``), ``Conv2D`` like
``torch.nn.Conv2d`` (``weight`` (out, in, kh, kw)), ``LayerNorm`` like
``torch.nn.LayerNorm`` (``weight``, ``bias``), ``LSTM`` like ``torch.nn.LSTM``
(``weight_ih``, ``weight_hh``; one bias where torch has two). Each layer's
``_state_layout`` tells the state walker (``state.py``) how its tensors map to the
canonical state (Dense ``kernel`` (in, out), Conv2D ``kernel`` (kh, kw, in, out) on
NHWC inputs, LSTM ``kernel`` (in, 4H) and ``recurrent_kernel`` (H, 4H), LayerNorm
``scale``), so ``get_state``/``set_state`` exchange weights with every other backend.

Parameters are made when a layer is constructed, from the NumPy arrays of
``rlmodule_core.nn.initializers`` (never from torch's RNG, which stays untouched), so the
same seed gives the same weights as on every other backend.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rlmodule_core.nn import block as _core_block
from rlmodule_core.nn import conv
from rlmodule_core.nn import initializers as init
from rlmodule_core.nn.block import layer_dict

from . import ops
from ._fastpath import FastModule

__all__ = [
    "Activation",
    "activation_fn",
    "as_input",
    "Bias",
    "Block",
    "column_major_weights",
    "CONV",
    "Conv2D",
    "Dense",
    "Dict",
    "Flatten",
    "Layer",
    "LayerNorm",
    "List",
    "LSTM",
    "Sequential",
    "TRANSPOSED",
]

_ACTIVATIONS: dict[str | None, Callable[[torch.Tensor], torch.Tensor] | None] = {
    None: None,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "elu": F.elu,
    "swish": F.silu,
    "softplus": F.softplus,
    "leaky_relu": F.leaky_relu,  # default slope 0.01, as the contract says
}


def activation_fn(name: str | None) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The activation function for a name; ``None`` for linear.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    return _ACTIVATIONS[init.check_activation(name)]


def _parameter(array: np.ndarray) -> torch.nn.Parameter:
    # torch.tensor copies onto the default device (a `with torch.device(...)` block works).
    return torch.nn.Parameter(torch.tensor(np.ascontiguousarray(array, dtype=np.float32)))


def as_input(x: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` as a tensor; NumPy arrays and lists go to ``like``'s device and float dtype.

    Lets the layers take NumPy inputs wherever a module method is called directly
    (``module.compute_values(numpy_batch)``), as on the other backends.
    """
    if not isinstance(x, np.ndarray | np.generic | list | tuple | float | int):
        return x  # a tensor, or a tracer's stand-in for one (torch.fx.Proxy)
    t = ops.asarray(x)
    if like is None:
        return t
    dtype = like.dtype if t.is_floating_point() else t.dtype
    return t.to(device=like.device, dtype=dtype)


# Tells "bias registered as None" (use_bias=False) from "bias not in _parameters".
_ABSENT = object()

#: ``_state_layout`` transforms: the stored tensor is the canonical array transposed
#: (2-D), or a torch conv weight (out, in, kh, kw) of a canonical (kh, kw, in, out).
TRANSPOSED, CONV = "transposed", "conv"


class Layer(FastModule):
    """Base of the neutral torch layers.

    ``_state_layout`` lists ``(canonical name, attribute, transform)`` for each state
    entry; a layer without one exposes its parameters under their own names, as stored.
    """

    _state_layout: tuple[tuple[str, str, str | None], ...] | None = None


class Activation(Layer):
    """An activation as a layer, for ``Sequential``."""

    def __init__(self, name: str | None) -> None:
        super().__init__()
        self.name = init.check_activation(name)
        self._act = _ACTIVATIONS[self.name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_input(x)
        return x if self._act is None else self._act(x)

    def extra_repr(self) -> str:
        return repr(self.name)


def _dense_weight(kernel: np.ndarray) -> torch.nn.Parameter:
    """``weight`` (out, in), contiguous, for a canonical ``kernel`` (in, out), as in
    ``torch.nn.Linear`` (``column_major_weights`` offers the other layout)."""
    return _parameter(np.asarray(kernel, dtype=np.float32).T)


def column_major_weights(module: torch.nn.Module, min_out_features: int = 256) -> torch.nn.Module:
    """Stores the ``weight`` of wide ``Dense`` layers column-major; returns ``module``.

    The memory of such a weight is then the canonical ``kernel`` (in, out) array and
    ``weight`` a transposed, non-contiguous view of it: ``get_state``/``set_state`` and
    checkpoints copy it at memcpy speed instead of transposing it (2-3.7x faster reads
    and writes of a [2048, 2048, 2048] module, see ``benchmarks/torch_weight_layout.py``),
    while ``F.linear`` runs at least as fast. The
    price: ``torch.nn.utils.parameters_to_vector`` and ``p.view(-1)`` refuse those
    parameters, which is why the default layout is torch's contiguous one. Values,
    shapes, names and ``state_dict()`` are unchanged. Call it before creating an
    optimizer (the parameters are replaced).

    Args:
        module: any torch module; its neutral ``Dense`` layers are changed.
        min_out_features: layers with fewer outputs keep the row-major layout, where
            oneDNN's GEMM for a few output columns is faster.

    Example:
        >>> module = column_major_weights(spec.build())
        >>> optimizer = torch.optim.Adam(module.parameters())
    """
    for layer in module.modules():
        if isinstance(layer, Dense) and layer.out_features >= min_out_features:
            weight = layer.weight
            column_major = weight.detach().t().contiguous().t()
            layer.weight = torch.nn.Parameter(column_major, requires_grad=weight.requires_grad)
    return module


class Dense(Layer):
    """``y = activation(x @ kernel + bias)``; stored like ``torch.nn.Linear``.

    ``weight`` is (out, in) and contiguous, the canonical ``kernel`` transposed, as in
    ``torch.nn.Linear``; the state shows ``kernel`` (in, out) and ``bias``.

    Example:
        >>> layer = Dense(4, 64, activation="tanh")
        >>> layer(torch.zeros(2, 4)).shape
        torch.Size([2, 64])
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
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = _dense_weight(params["kernel"])
        if use_bias:
            self.bias = _parameter(params["bias"])
        else:
            self.register_parameter("bias", None)
        self.activation = init.check_activation(activation)
        self._act = _ACTIVATIONS[self.activation]

    _state_layout = (("kernel", "weight", TRANSPOSED), ("bias", "bias", None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Read from _parameters, where nn.Module.__getattr__ finds them only after a failed
        # normal look-up and a Python call each (~5% of a batch-1 policy pass for two of
        # them). A name that left _parameters (parametrizations, weight_norm) takes the
        # normal look-up.
        params = self._parameters
        weight = params.get("weight")
        if weight is None:
            weight = self.weight
        bias = params.get("bias", _ABSENT)
        if bias is _ABSENT:
            bias = self.bias
        if isinstance(x, np.ndarray):
            x = as_input(x, weight)
        # F.linear, as torch.nn.Linear: with the (out, in) layout it picks the fast GEMM
        # for narrow outputs too (an (in, out) kernel makes a 2-wide head 3x slower).
        y = F.linear(x, weight, bias)
        act = self._act
        return y if act is None else act(y)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"activation={self.activation}, use_bias={self.bias is not None}"
        )




class Conv2D(Layer):
    """2-D convolution on NHWC inputs; stored like ``torch.nn.Conv2d``.

    ``weight`` is (out, in, kh, kw); the state shows the canonical ``kernel``
    (kh, kw, in, out) and ``bias``.

    ``padding="same"`` pads like TensorFlow (the extra pixel on the bottom/right), for
    any stride.

    Example:
        >>> conv = Conv2D(3, 16, 3, stride=2, padding="same", activation="relu")
        >>> conv(torch.zeros(1, 84, 84, 3)).shape
        torch.Size([1, 42, 42, 16])
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
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.weight = _parameter(params["kernel"].transpose(3, 2, 0, 1))
        if use_bias:
            self.bias = _parameter(params["bias"])
        else:
            self.register_parameter("bias", None)
        self.activation = init.check_activation(activation)
        self._act = _ACTIVATIONS[self.activation]

    _state_layout = (("kernel", "weight", CONV), ("bias", "bias", None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_input(x, self.weight)
        # NHWC -> NCHW as a view: the strides are channels-last, which the CPU (oneDNN)
        # and cuDNN kernels take without a copy; the output comes back channels-last too.
        x = x.permute(0, 3, 1, 2)
        conv_padding: tuple[int, int] = (0, 0)
        if self.padding == "same":
            (kh, kw), (sh, sw) = self.kernel_size, self.stride
            top, bottom = conv.same_padding(x.shape[2], kh, sh)
            left, right = conv.same_padding(x.shape[3], kw, sw)
            if top == bottom and left == right:
                conv_padding = (top, left)  # symmetric: the conv pads, no copy
            else:
                x = F.pad(x, (left, right, top, bottom))
        y = F.conv2d(x, self.weight, self.bias, self.stride, conv_padding)
        if self._act is not None:
            y = self._act(y)
        return y.permute(0, 2, 3, 1)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r}, activation={self.activation}"
        )


# torch.nn.LSTM's fused kernel (oneDNN/cuDNN), 3-5x faster than a Python loop over time
# steps; the loop remains for torch.compile (which traces it into fused kernels) and for
# a torch that no longer exposes the function.
_FUSED_LSTM = getattr(getattr(torch, "_VF", None), "lstm", None)


class LSTM(Layer):
    """A single-layer LSTM over (B, T, F) inputs; gates i, f, g, o, as ``torch.nn.LSTM``.

    ``out, state = lstm(x, {"h": h, "c": c})`` with ``out`` (B, T, H) and ``h``, ``c``
    (B, H); ``state=None`` starts from zeros. ``weight_ih`` (4H, in) and ``weight_hh``
    (4H, H) are torch's layouts (the state shows the canonical ``kernel`` (in, 4H) and
    ``recurrent_kernel`` (H, 4H)); there is one ``bias`` (4H,), where torch has two.

    Example:
        >>> lstm = LSTM(5, 8)
        >>> out, state = lstm(torch.zeros(2, 3, 5))
        >>> out.shape, state["h"].shape
        (torch.Size([2, 3, 8]), torch.Size([2, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        params = init.lstm_params(input_size, hidden_size)
        self.weight_ih = _parameter(params["kernel"].T)
        self.weight_hh = _parameter(params["recurrent_kernel"].T)
        self.bias = _parameter(params["bias"])
        # The fused kernel takes torch's two biases; the second is a constant zero (not
        # a parameter, not in the state), so the layer has exactly the canonical one.
        self.register_buffer("_zero_bias", torch.zeros_like(self.bias), persistent=False)
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)

    _state_layout = (
        ("kernel", "weight_ih", TRANSPOSED),
        ("recurrent_kernel", "weight_hh", TRANSPOSED),
        ("bias", "bias", None),
    )

    def forward(
        self, x: torch.Tensor, state: Mapping[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = as_input(x, self.weight_ih)
        batch, steps = x.shape[0], x.shape[1]
        if state is None:
            h = x.new_zeros((batch, self.hidden_size))
            c = x.new_zeros((batch, self.hidden_size))
        else:
            h, c = as_input(state["h"], x), as_input(state["c"], x)
        if _FUSED_LSTM is not None and steps > 0 and not torch.compiler.is_compiling():
            weights = (self.weight_ih, self.weight_hh, self.bias, self._zero_bias)
            out, h_n, c_n = _FUSED_LSTM(
                x, (h.unsqueeze(0), c.unsqueeze(0)), weights, True, 1, 0.0, self.training,
                False, True,  # has_biases, layers, dropout, train, bidirectional, batch_first
            )
            return out, {"h": h_n.squeeze(0), "c": c_n.squeeze(0)}
        return self._loop(x, h, c)

    def _loop(self, x, h, c):
        # The input projection of all steps at once; only the recurrence loops.
        inputs = F.linear(x, self.weight_ih, self.bias)
        recurrent = self.weight_hh.t()
        outputs = []
        for t in range(x.shape[1]):
            z = torch.addmm(inputs[:, t], h, recurrent)
            i, f, g, o = z.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        if outputs:
            out = torch.stack(outputs, dim=1)
        else:
            out = x.new_zeros((x.shape[0], 0, self.hidden_size))
        return out, {"h": h, "c": c}

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class LayerNorm(Layer):
    """Normalizes the last axis, then ``* scale + bias``; stored like ``torch.nn.LayerNorm``.

    ``weight`` is the canonical ``scale``.

    Example:
        >>> LayerNorm(64)(torch.randn(8, 64)).shape
        torch.Size([8, 64])
    """

    def __init__(self, features: int, *, epsilon: float = 1e-5) -> None:
        super().__init__()
        params = init.layer_norm_params(features)
        self.weight = _parameter(params["scale"])
        self.bias = _parameter(params["bias"])
        self.features, self.epsilon = int(features), float(epsilon)
        self._normalized_shape = (self.features,)

    _state_layout = (("scale", "weight", None), ("bias", "bias", None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_input(x, self.weight)
        return F.layer_norm(x, self._normalized_shape, self.weight, self.bias, self.epsilon)

    def extra_repr(self) -> str:
        return f"{self.features}, epsilon={self.epsilon}"


class Bias(Layer):
    """``x + bias``: a free parameter vector (e.g. a state-independent log-std).

    Example:
        >>> log_std = Bias(2, initializer={"name": "constant", "value": -0.5})
        >>> log_std(torch.zeros(3, 2))[0]
        tensor([-0.5000, -0.5000], grad_fn=<SelectBackward0>)
    """

    def __init__(self, features: int, *, initializer: init.InitSpec = "zeros") -> None:
        super().__init__()
        self.bias = _parameter(
            init.initialize(initializer, (features,), fan_in=1, fan_out=features, default="zeros")
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return as_input(x, self.bias) + self.bias


class Flatten(Layer):
    """(B, ...) -> (B, prod(...)) in C order (NHWC stays NHWC)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_input(x)
        return x.reshape(x.shape[0], -1)


class List(torch.nn.ModuleList):
    """A list of layers; state paths ``<i>.<param>``."""

    # Its parent may keep it as a plain attribute (see _fastpath); the list itself keeps
    # torch's ModuleList behaviour (it renumbers its children in place).
    _rlm_mirrored = True

    def __init__(self, layers: Iterable[torch.nn.Module] = ()) -> None:
        super().__init__(layers)


class Dict(torch.nn.Module):
    """A mapping of layers; state paths ``<key>.<param>`` (keys may not contain '.').

    Unlike ``torch.nn.ModuleDict``, any key works, including names of ``nn.Module``
    attributes such as ``"type"`` or ``"state"`` (observation keys are not ours to pick).

    Example:
        >>> heads = Dict({"pos": Dense(3, 8), "type": Dense(5, 8)})
        >>> heads["type"](torch.zeros(1, 5)).shape
        torch.Size([1, 8])
    """

    _rlm_mirrored = True  # its parent may keep it as a plain attribute (see _fastpath)

    def __init__(self, layers: Mapping[str, torch.nn.Module] | None = None) -> None:
        super().__init__()
        layers = layer_dict(layers)
        for key, layer in layers.items():
            if not isinstance(layer, torch.nn.Module):
                raise TypeError(
                    f"Dict values must be layers (torch.nn.Module); received "
                    f"{type(layer).__name__} under {key!r}."
                )
            # Written directly so keys may shadow Module attributes (add_module refuses them).
            self._modules[key] = layer

    def __getitem__(self, key: str) -> torch.nn.Module:
        return self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()


class Sequential(Layer):
    """Applies ``layers`` in order; state paths ``layers.<i>.<param>``.

    Example:
        >>> mlp = Sequential([Dense(4, 64, activation="tanh"), Dense(64, 2)])
        >>> mlp(torch.zeros(1, 4)).shape
        torch.Size([1, 2])
    """

    def __init__(self, layers: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        self.layers = List(layers)

    def forward(self, x: Any) -> Any:
        for layer in self.layers._modules.values():
            x = layer(x)
        return x


class Block(_core_block.Block, FastModule):
    """Framework base of neutral blocks on PyTorch (see ``rlmodule_core.Block``).

    A bound block is a ``torch.nn.Module``: calling it runs ``forward``, and its layers'
    parameters are registered under its attribute names.

    Example:
        >>> encoder = MLP([4, 64, 64])          # a neutral Block, inside a torch module's setup()
        >>> isinstance(encoder, torch.nn.Module)
        True
    """

    _backend_name = "torch"
    ops = ops

    def _init_framework(self) -> None:
        FastModule.__init__(self)


Block.nn = sys.modules[__name__]
