"""Conv2D geometry and arguments, shared by every backend's layer and by the catalog."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from rlmodule_core.nn import initializers as init

__all__ = ["conv2d_args", "Conv2DArgs", "output_size", "same_padding"]


class Conv2DArgs(NamedTuple):
    """Validated Conv2D arguments and the layer's initial canonical parameters."""

    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: str
    params: dict[str, np.ndarray]


def conv2d_args(
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int],
    padding: str,
    *,
    use_bias: bool,
    kernel_initializer: init.InitSpec,
    bias_initializer: init.InitSpec,
) -> Conv2DArgs:
    """Validates a Conv2D's arguments and draws its parameters (kernel (kh, kw, in, out)).

    Raises:
        ValueError: a kernel size or stride that is not a positive int (pair), or a
            padding other than "valid"/"same".
    """
    kernel = init.normalize_kernel_size(kernel_size, "kernel_size")
    strides = init.normalize_kernel_size(stride, "stride")
    if padding not in ("valid", "same"):
        raise ValueError(f"Expected padding 'valid' or 'same'; received {padding!r}.")
    params = init.conv2d_params(
        in_channels, out_channels, kernel, use_bias=use_bias,
        kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
    )
    return Conv2DArgs(kernel, strides, padding, params)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding: output ceil(size / stride), the extra pixel at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """The output length along one axis."""
    return math.ceil(size / stride) if padding == "same" else (size - kernel) // stride + 1
