"""``export_onnx``: a module or checkpoint from any backend as an ONNX file.

The work is done by the ``onnx`` backend (``rlmodule_onnx``, which needs only the
``onnx`` package: ``pip install "rlmodule-core[onnx]"``), reached through the backend
registry, so importing rlmodule_core imports neither onnx nor any framework.
"""

from __future__ import annotations

import os
from typing import Any

from rlmodule_core.backend import registry

__all__ = ["export_onnx"]


def export_onnx(
    module_or_checkpoint: Any,
    path: str | os.PathLike,
    *,
    opset: int | None = None,
    phase: str = "inference",
    with_actions: bool = False,
    trust_code: bool = False,
) -> str:
    """Writes a module's forward pass as an ONNX model that ONNX Runtime runs; returns the path.

    Works for every module written against the neutral API (the default PPO, DQN and SAC
    modules included), from a checkpoint saved by any backend, with no deep-learning
    framework installed. Graph inputs are named after the batch columns (``obs``,
    ``obs.<key>``, ``state_in.<key>``), outputs after the forward pass's keys
    (``action_dist_inputs``, ``actions``, ``state_out.<key>``); the batch axis is dynamic.
    Native modules (a ``TorchRLModule`` subclass) go through ``torch.onnx.export``.
    See docs/deployment-onnx.md.

    Args:
        module_or_checkpoint: an ``RLModule``, or a checkpoint directory (module, learner or
            training run).
        path: the ``.onnx`` file to write.
        opset: the ONNX opset (None: the exporter's default, 17).
        phase: ``"inference"``, ``"exploration"`` or ``"train"``.
        with_actions: also output the greedy ``actions``.
        trust_code: import the module class a checkpoint names even if it is not known
            (runs its code; only for checkpoints you trust).

    Example:
        >>> import rlmodule_core as rlm
        >>> rlm.export_onnx("runs/ppo/checkpoint/module", "policy.onnx", with_actions=True)

    Raises:
        ImportError: the ``onnx`` package is missing (the message says what to install).
        rlmodule_onnx.OnnxExportError: something the graph cannot express, named with its layer.
    """
    backend = registry.get_backend("onnx")
    options: dict[str, Any] = {"phase": phase, "with_actions": with_actions, "trust_code": trust_code}
    if opset is not None:
        options["opset"] = opset
    return backend.export_onnx(module_or_checkpoint, path, **options)
