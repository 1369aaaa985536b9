"""Per-agent trajectories -> one training batch per module, with GAE along each trajectory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rlmodule_core.columns import Columns
from rlmodule_core.train.algorithms.ppo import compute_gae

__all__ = ["concat_segments", "segments_gae"]


def concat_segments(segments: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Joins segments along time; ``segment_ends`` marks each segment's last row."""
    keys = [k for k in segments[0] if k not in (Columns.AGENT_ID, Columns.EPS_ID)]
    joined = {}
    for key in keys:
        parts = [s[key] for s in segments]
        joined[key] = _tree_concat(parts)
    ends = np.zeros(sum(len(s[Columns.REWARDS]) for s in segments), dtype=bool)
    ends[np.cumsum([len(s[Columns.REWARDS]) for s in segments]) - 1] = True
    joined["segment_ends"] = ends
    return joined


def segments_gae(
    segments: Sequence[dict[str, Any]], values_fn: Callable[[Any], np.ndarray], gamma: float, lambda_: float,
) -> dict[str, Any]:
    """A PPO batch for one module from its agents' segments.

    The recursion stops at every segment end: a terminated step bootstraps nothing, a
    truncated step or one cut at the end of a rollout bootstraps ``V(next_obs)``.
    ``values_fn`` maps a batch of observations to values (one call for all observations,
    one for all next observations).

    Example:
        >>> batch = segments_gae(segments["agent_0"], values_fn, gamma=0.99, lambda_=0.95)
        >>> batch["advantages"].shape == batch["actions"].shape[:1]
        True
    """
    data = concat_segments(segments)
    values = np.asarray(values_fn(data[Columns.OBS]), dtype=np.float32).reshape(-1)
    next_values = np.asarray(values_fn(data[Columns.NEXT_OBS]), dtype=np.float32).reshape(-1)
    # compute_gae stops the recursion at terminated or truncated steps; a segment cut by the
    # rollout's end is marked truncated here so that it bootstraps and stops too.
    cut = data["segment_ends"] | data[Columns.TRUNCATEDS].astype(bool)
    advantages, targets = compute_gae(
        data[Columns.REWARDS][:, None], values[:, None], next_values[:, None],
        data[Columns.TERMINATEDS][:, None], cut[:, None], gamma, lambda_,
    )
    return {
        Columns.OBS: data[Columns.OBS],
        Columns.ACTIONS: data[Columns.ACTIONS],
        Columns.ACTION_LOGP: data[Columns.ACTION_LOGP].astype(np.float32),
        Columns.ADVANTAGES: advantages[:, 0],
        Columns.VALUE_TARGETS: targets[:, 0],
        Columns.VF_PREDS: values,
    }


def _tree_concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        return {k: _tree_concat([p[k] for p in parts]) for k in first}
    if isinstance(first, tuple):
        return tuple(_tree_concat([p[i] for p in parts]) for i in range(len(first)))
    return np.concatenate(parts)
