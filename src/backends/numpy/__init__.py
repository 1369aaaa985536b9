"""rlmodule_numpy: the NumPy backend of rlmodule-core (inference, reference, deployment)."""

from .backend import backend
from .module import NumpyRLModule
from .targets import make_target_network, update_target_network

__all__ = ["NumpyRLModule", "backend", "make_target_network", "update_target_network"]
