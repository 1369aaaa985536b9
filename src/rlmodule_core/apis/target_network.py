"""TargetNetworkAPI: slowly updated copies of networks for stable bootstrapping."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["TARGET_NETWORK_ACTION_DIST_INPUTS", "TargetNetworkAPI"]

#: Output key of the target network's action-distribution inputs (RLlib's value).
TARGET_NETWORK_ACTION_DIST_INPUTS = "target_network_action_dist_inputs"


class TargetNetworkAPI(abc.ABC):
    """Implemented by modules with target networks (DQN, SAC).

    The owning Learner calls ``make_target_networks()`` once, and after each update
    polyak-syncs every pair from ``get_target_network_pairs()``. Target attributes carry
    ``target`` in their names (e.g. ``_target_encoder``) and are part of ``get_state()``.

    Example:
        >>> def make_target_networks(self):
        ...     self._target_qf = self.backend.make_target_network(self.qf)
        >>> def get_target_network_pairs(self):
        ...     return [(self.qf, self._target_qf)]
    """

    @abc.abstractmethod
    def make_target_networks(self) -> None:
        """Creates the target networks as copies of their main networks (equal weights)."""

    @abc.abstractmethod
    def get_target_network_pairs(self) -> list[tuple[Any, Any]]:
        """``[(main_net, target_net), ...]``."""

    @abc.abstractmethod
    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The forward pass through the target networks (a Q module returns ``"qf_preds"``)."""
