"""Native torch modules to ONNX through ``torch.onnx.export`` (used by ``rlmodule_core.export_onnx``).

Neutral modules never come here: the onnx backend writes their graphs from any
checkpoint. A ``TorchRLModule`` subclass built from ``torch.nn`` layers has no neutral
description, so torch's own exporter traces it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["export_function"]


class _Traced(torch.nn.Module):
    """Holds the module (so its parameters are the graph's) and calls the flat function."""

    def __init__(self, module: torch.nn.Module, fn: Callable[..., list[Any]]) -> None:
        super().__init__()
        self.module = module
        self._fn = fn

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self._fn(*inputs))


def export_function(
    module: torch.nn.Module,
    fn: Callable[..., list[Any]],
    example_inputs: Sequence[np.ndarray],
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
    path: str,
) -> None:
    """Writes ``fn(*inputs) -> [outputs]`` (which calls ``module``) as an ONNX file.

    Uses the TorchScript-based exporter (``dynamo=False``), which needs no package beyond
    torch and onnx.

    Example:
        >>> export_function(module, run, [obs], ["obs"], ["action_dist_inputs"],
        ...                 {"obs": {0: "batch"}}, 17, "policy.onnx")
    """
    wrapper = _Traced(module, fn).eval()
    args = tuple(torch.as_tensor(np.asarray(x)) for x in example_inputs)
    # The TorchScript exporter is deprecated in favour of the dynamo one, which needs the
    # onnxscript package; this one needs only torch and onnx, so its warning is silenced.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            wrapper, args, path, input_names=list(input_names), output_names=list(output_names),
            dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False,
        )
