"""ValueFunctionAPI: state-value estimates for actor-critic learners."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["ValueFunctionAPI"]


class ValueFunctionAPI(abc.ABC):
    """Implemented by modules with a state-value head (PPO, A2C, ...).

    The learner calls ``compute_values`` on a training batch (GAE, value loss); it passes
    the ``EMBEDDINGS`` of ``forward_train`` when the encoder is shared, to avoid a second
    encoder pass.

    Example:
        >>> values = module.compute_values(batch)                      # (B,) or (B, T)
        >>> out = module.forward_train(batch)
        >>> values = module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS])
    """

    @abc.abstractmethod
    def compute_values(self, batch: dict[str, Any], embeddings: Any | None = None) -> Any:
        """Value estimates of shape (B,), or (B, T) for batches with a time axis.

        The trailing value dimension of size 1 is squeezed out.
        """
