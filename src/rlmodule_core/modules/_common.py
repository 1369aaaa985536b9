"""Pieces the default modules share: encoding with or without recurrence, Gaussian inputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core.columns import Columns

__all__ = ["box_size", "encode", "gaussian_inputs", "pi_output_size"]


def encode(encoder: Any, batch: Mapping[str, Any], recurrent: bool) -> tuple[Any, Any]:
    """``(embeddings, state_out)``; ``state_out`` is None for a feed-forward encoder."""
    if recurrent:
        return encoder(batch, batch.get(Columns.STATE_IN))
    return encoder(batch[Columns.OBS]), None


def pi_output_size(action_space: gym.Space, config: Mapping[str, Any]) -> tuple[int, bool]:
    """The policy head's output size and whether a free log-std parameter is used."""
    from rlmodule_core.distributions import get_action_dist_cls

    dist_cls = get_action_dist_cls(action_space)  # raises a clear error for unsupported spaces
    size = int(dist_cls.required_input_dim(action_space))
    if config.get("free_log_std"):
        if not isinstance(action_space, gym.spaces.Box):
            raise ValueError(
                f"free_log_std=True needs a continuous (Box) action space; received {action_space!r}. "
                "Set free_log_std=False."
            )
        return size // 2, True
    return size, False


def gaussian_inputs(ops: Any, logits: Any, log_std_layer: Any, clip: float) -> Any:
    """``concat(mean, clip(log_std))`` from a head output (and a free log-std layer)."""
    if log_std_layer is None:
        mean, log_std = ops.split(logits, 2, axis=-1)
    else:
        mean, log_std = logits, log_std_layer(ops.zeros_like(logits))
    return ops.concatenate([mean, ops.clip(log_std, -clip, clip)], axis=-1)


def box_size(space: gym.spaces.Box) -> int:
    return int(np.prod(space.shape)) if space.shape else 1
