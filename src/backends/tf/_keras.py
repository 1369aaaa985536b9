"""Imports Keras 3 with the TensorFlow backend, or explains what to set.

Keras picks its backend once, at its first import, from ``KERAS_BACKEND`` (or
``~/.keras/keras.json``). This backend needs ``"tensorflow"``: when Keras is not imported
yet and the user did not choose a backend, it is set here; a different explicit choice,
or a Keras already running on another backend, fails with the fix in the message.
"""

from __future__ import annotations

import os
import sys

_FIX = (
    "Set KERAS_BACKEND=tensorflow before keras is first imported (e.g. `export "
    "KERAS_BACKEND=tensorflow`, or os.environ['KERAS_BACKEND'] = 'tensorflow' at the top "
    "of your script), or choose another rlmodule framework (framework='torch', 'jax' or "
    "'numpy')."
)


def _check_environment() -> None:
    if "keras" in sys.modules:
        return  # the imported Keras is checked below; the variable no longer matters
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen is not None and chosen != "tensorflow":
        raise ImportError(
            "The rlmodule 'tf' backend runs Keras 3 on TensorFlow, but the environment "
            f"sets KERAS_BACKEND={chosen!r}. {_FIX}"
        )
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


_check_environment()

import keras  # noqa: E402 - the backend must be chosen before this import
import tensorflow as tf  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "The rlmodule 'tf' backend runs Keras 3 on TensorFlow, but keras was already "
        f"imported with the {keras.backend.backend()!r} backend. {_FIX}"
    )

__all__ = ["keras", "tf"]
