"""Converting a checkpoint to another framework, with the outputs checked before it is saved."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core.columns import Columns

__all__ = ["compare_modules", "ConversionReport", "convert_checkpoint", "sample_batch"]


@dataclass
class ConversionReport:
    """What ``convert_checkpoint`` did."""

    source: str
    output: str
    source_framework: str | None
    target_framework: str
    inference_only: bool
    max_abs_diff: float
    outputs_compared: int


def sample_batch(space: gym.Space, size: int, *, seed: int = 0, time_steps: int | None = None) -> Any:
    """``size`` samples of ``space`` stacked on a batch axis (and a time axis if asked)."""
    space.seed(seed)
    samples = [space.sample() for _ in range(size * (time_steps or 1))]
    lead = (size, time_steps) if time_steps else (size,)
    return _stack(space, samples, lead)


def _stack(space: gym.Space, samples: list, lead: tuple[int, ...]) -> Any:
    if isinstance(space, gym.spaces.Dict):
        return {k: _stack(sub, [s[k] for s in samples], lead) for k, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_stack(sub, [s[i] for s in samples], lead) for i, sub in enumerate(space.spaces))
    array = np.stack([np.asarray(s) for s in samples])
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return array.reshape(*lead, *array.shape[1:])


def _flat_outputs(out: Any, ops: Any, prefix: str = "") -> dict[str, np.ndarray]:
    if isinstance(out, dict):
        flat = {}
        for key, value in out.items():
            flat.update(_flat_outputs(value, ops, f"{prefix}{key}."))
        return flat
    if isinstance(out, list | tuple):
        flat = {}
        for i, value in enumerate(out):
            flat.update(_flat_outputs(value, ops, f"{prefix}{i}."))
        return flat
    return {prefix.rstrip("."): np.asarray(ops.to_numpy(out))}


def compare_modules(reference: Any, candidate: Any, *, batch_size: int = 4, seed: int = 0) -> tuple[float, int]:
    """Runs ``forward_inference`` of both modules on sampled observations.

    Returns the largest absolute difference and how many output arrays were compared.
    Handles MultiRLModules (one batch per module) and recurrent modules (a time axis).

    Raises:
        ValueError: the two modules' outputs have different keys or shapes.
    """
    from rlmodule_core.multi_rl_module import MultiRLModule

    if isinstance(reference, MultiRLModule):
        worst, count = 0.0, 0
        for module_id in reference.keys():
            diff, n = compare_modules(reference[module_id], candidate[module_id], batch_size=batch_size, seed=seed)
            worst, count = max(worst, diff), count + n
        return worst, count
    obs = sample_batch(
        reference.observation_space, batch_size, seed=seed,
        time_steps=2 if reference.is_stateful() else None,
    )
    batch = {Columns.OBS: obs}
    if reference.is_stateful():
        config = reference.model_config
        if config.get("lstm_use_prev_reward"):
            batch[Columns.PREV_REWARDS] = np.zeros((batch_size, 2), np.float32)
        if config.get("lstm_use_prev_action"):
            batch[Columns.PREV_ACTIONS] = sample_batch(reference.action_space, batch_size, seed=seed, time_steps=2)
    want = _flat_outputs(reference.forward_inference(batch), reference.backend.ops)
    got = _flat_outputs(candidate.forward_inference(batch), candidate.backend.ops)
    if want.keys() != got.keys():
        raise ValueError(f"Output keys differ after conversion: {sorted(want)} vs {sorted(got)}.")
    worst = 0.0
    for key, value in want.items():
        if value.shape != got[key].shape:
            raise ValueError(f"Output {key!r} has shape {got[key].shape} after conversion, expected {value.shape}.")
        if value.size:
            worst = max(worst, float(np.max(np.abs(value.astype(np.float64) - got[key].astype(np.float64)))))
    return worst, len(want)


def convert_checkpoint(
    source: str | os.PathLike,
    framework: str,
    output: str | os.PathLike,
    *,
    inference_only: bool = False,
    atol: float = 1e-4,
    trust_code: bool = False,
) -> ConversionReport:
    """Writes the checkpoint at ``source`` as a ``framework`` checkpoint at ``output``.

    The converted module's ``forward_inference`` is compared with the NumPy reference
    built from the same checkpoint before anything is written.

    Example:
        >>> convert_checkpoint("runs/ppo/checkpoint", "jax", "deploy/ppo-jax", inference_only=True)

    Raises:
        CheckpointError: the source is missing, not a checkpoint, or corrupted.
        ImportError: ``framework`` is not installed.
        ValueError: a native module (not portable), or outputs that disagree beyond ``atol``.

    ``trust_code=True`` lets the source checkpoint name module classes that must be
    imported (see ``RLModule.from_checkpoint``).
    """
    from rlmodule_core.backend import registry
    from rlmodule_core.checkpoint import read_metadata
    from rlmodule_core.rl_module import RLModule

    source, output = Path(source), Path(output)
    target = registry.canonical_name(framework)
    # Each from_checkpoint below verifies every file as it reads it.
    metadata = read_metadata(source, verify=False)
    flags: dict[str, Any] = {"inference_only": True} if inference_only else {}
    flags["trust_code"] = trust_code
    converted = RLModule.from_checkpoint(source, framework=target, **flags)
    reference = converted if target == "numpy" else RLModule.from_checkpoint(source, framework="numpy", **flags)
    worst, count = compare_modules(reference, converted)
    if worst > atol:
        raise ValueError(
            f"The {target} module's outputs differ from the reference by {worst:.3g} (> {atol}); "
            "nothing was written. This is a bug in a backend: please report it."
        )
    converted.save_to_path(output)
    read_metadata(output)  # the written checkpoint verifies
    return ConversionReport(
        source=str(source), output=str(output.absolute()), source_framework=metadata.get("framework"),
        target_framework=target, inference_only=converted.inference_only,
        max_abs_diff=worst, outputs_compared=count,
    )
