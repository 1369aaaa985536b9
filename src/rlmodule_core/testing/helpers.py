"""Helpers of the conformance suite: building, converting outputs, comparing.

Example:
    >>> module = build(TinyPolicy, "torch", model_config={"seed": 0})
    >>> out = numpy_tree(module.forward_inference(batch(3)), "torch")
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

import rlmodule_core as rlm

__all__ = [
    "ACT", "EVERY_OBS", "OBS", "assert_tree_close", "batch", "build", "every_layer_batch",
    "numpy_tree", "states_equal",
]

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)
EVERY_OBS = gym.spaces.Dict(
    {"img": gym.spaces.Box(0.0, 1.0, (8, 8, 3), np.float32), "vec": gym.spaces.Box(-1.0, 1.0, (5,), np.float32)}
)


def build(module_class, framework, *, obs=OBS, act=ACT, **spec_kwargs) -> rlm.RLModule:
    return rlm.RLModuleSpec(
        module_class=module_class, observation_space=obs, action_space=act,
        framework=framework, **spec_kwargs,
    ).build()


def numpy_tree(x: Any, framework: str) -> Any:
    """Converts a (nested) output to numpy with the backend's ``ops.to_numpy``."""
    if isinstance(x, dict):
        return {k: numpy_tree(v, framework) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(numpy_tree(v, framework) for v in x)
    if isinstance(x, str | int | float | bool) or x is None:
        return x
    return np.asarray(rlm.get_backend(framework).ops.to_numpy(x))


def assert_tree_close(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), (sorted(a), sorted(b))
        for k in a:
            assert_tree_close(a[k], b[k], atol, rtol)
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=rtol)


def batch(n: int = 5, seed: int = 0, dim: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {rlm.Columns.OBS: rng.uniform(-1, 1, (n, dim)).astype(np.float32)}


def every_layer_batch(n: int = 2, t: int = 3, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        rlm.Columns.OBS: {
            "img": rng.uniform(0, 1, (n, 8, 8, 3)).astype(np.float32),
            "vec": rng.uniform(-1, 1, (n, t, 5)).astype(np.float32),
        }
    }


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
