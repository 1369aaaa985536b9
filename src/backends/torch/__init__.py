"""rlmodule_torch: the PyTorch backend of rlmodule-core."""

from .backend import backend
from .module import TorchRLModule
from .targets import make_target_network, update_target_network

__all__ = ["TorchRLModule", "backend", "make_target_network", "update_target_network"]
