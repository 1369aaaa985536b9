"""SelfSupervisedLossAPI: modules that bring their own loss."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["SelfSupervisedLossAPI"]


class SelfSupervisedLossAPI(abc.ABC):
    """Implemented by modules whose loss the Learner should not compute itself.

    The Learner calls ``compute_self_supervised_loss`` instead of its own
    ``compute_loss_for_module`` for such a module (e.g. a world model or curiosity
    module), with the same arguments plus ``learner``.

    Example:
        >>> def compute_self_supervised_loss(self, *, learner, module_id, config, batch, fwd_out):
        ...     return self.ops.mean(self.ops.square(fwd_out["pred"] - batch["target"]))
    """

    @abc.abstractmethod
    def compute_self_supervised_loss(
        self,
        *,
        learner: Any,
        module_id: str,
        config: Any,
        batch: dict[str, Any],
        fwd_out: dict[str, Any],
        **kwargs: Any,
    ) -> Any:
        """Returns one scalar loss tensor for ``module_id`` (sum the terms of several optimizers)."""
