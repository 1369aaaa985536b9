"""The ``rlmodule`` command: train, eval, inspect and convert."""

from rlmodule_core.cli.main import main

__all__ = ["main"]
