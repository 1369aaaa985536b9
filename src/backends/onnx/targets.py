"""Target networks on the ONNX backend: deep copies and in-place polyak averaging.

Restoring a checkpoint that holds target networks creates them first, so the ONNX
backend needs these even though an exported graph never uses them.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from rlmodule_core.backend.polyak import check_polyak

from .state import named_state

__all__ = ["make_target_network", "update_target_network"]


def make_target_network(net: Any) -> Any:
    """An independent copy of ``net`` with equal weights.

    Example:
        >>> self._target_qf = make_target_network(self.qf)
    """
    return copy.deepcopy(net)


def update_target_network(main: Any, target: Any, tau: float) -> None:
    """``target <- tau * main + (1 - tau) * target`` in place; ``tau=1.0`` copies.

    Raises:
        ValueError: ``tau`` outside [0, 1], or the two networks' parameters differ.
    """
    sources, targets = named_state(main), named_state(target)
    check_polyak(tau, sources, targets)
    for key, source in sources.items():
        if tau == 1.0:
            np.copyto(targets[key], source)
        else:
            targets[key] *= 1.0 - tau
            targets[key] += tau * source
