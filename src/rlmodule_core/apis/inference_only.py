"""InferenceOnlyAPI: which parts of a module acting does not need."""

from __future__ import annotations

import abc

__all__ = ["InferenceOnlyAPI"]


class InferenceOnlyAPI(abc.ABC):
    """Implemented by modules that can drop their training-only parts.

    A module built with ``inference_only=True`` (env runners, deployment) has the
    attributes named here deleted right after ``setup()``, parameters and all. A full
    module's ``get_state(inference_only=True)`` leaves their weights out, and an
    inference-only module skips them in ``set_state``, so a learner's full state loads.

    Example:
        >>> class MyModule(RLModule, InferenceOnlyAPI):
        ...     def get_non_inference_attributes(self):
        ...         return ["vf", "encoder.critic"]     # dotted paths
    """

    @abc.abstractmethod
    def get_non_inference_attributes(self) -> list[str]:
        """Dotted attribute paths of the components not used to compute actions."""
