"""Neutral building blocks written once for every backend: blocks, initializers, conv helpers.

The layers themselves (``Dense``, ``Conv2D``, ``LSTM``, ...) are each backend's ``nn``
namespace, reached as ``self.nn`` inside a module's ``setup()``.
"""

from rlmodule_core.nn.block import Block

__all__ = ["Block"]
