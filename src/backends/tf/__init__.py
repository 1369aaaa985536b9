"""rlmodule_tf: the TensorFlow / Keras 3 backend of rlmodule-core.

Importing it selects Keras's TensorFlow backend when none was chosen (and fails with
the fix when another one was); see ``rlmodule_tf._keras``.
"""

from ._keras import keras, tf  # noqa: F401 - first: chooses Keras's backend before any other import
from .backend import backend
from .module import TfRLModule
from .targets import make_target_network, update_target_network

__all__ = ["TfRLModule", "backend", "make_target_network", "update_target_network"]
