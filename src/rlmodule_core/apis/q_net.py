"""QNetAPI: Q-values for (distributional) Q-learning."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["QNetAPI"]


class QNetAPI(abc.ABC):
    """Implemented by modules with a Q-network (DQN, SAC's critics).

    The learner calls ``compute_q_values`` in its loss; distributional modules add the
    support and the per-atom distribution.

    Example:
        >>> q = module.compute_q_values({Columns.OBS: obs})["qf_preds"]   # (B, num_actions)
    """

    @abc.abstractmethod
    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Returns ``{"qf_preds": (B, num_actions)}`` and, when distributional
        (``num_atoms > 1``), also ``"atoms"`` (num_atoms,), ``"qf_logits"`` and
        ``"qf_probs"`` (B, num_actions, num_atoms)."""

    def compute_advantage_distribution(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The advantage (dueling) or Q distribution over atoms.

        Without a dueling architecture it equals the Q distribution, which is what this
        default returns (``compute_q_values``). Returns ``"atoms"``, ``"logits"`` and
        ``"probs"`` for distributional modules.
        """
        return self.compute_q_values(batch)
