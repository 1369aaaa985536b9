"""rlmodule_jax: the JAX / Flax NNX backend of rlmodule-core."""

from .backend import backend
from .module import JaxRLModule
from .prng import KeyStream
from .targets import TargetParam, make_target_network, update_target_network

__all__ = [
    "JaxRLModule",
    "KeyStream",
    "TargetParam",
    "backend",
    "make_target_network",
    "update_target_network",
]
