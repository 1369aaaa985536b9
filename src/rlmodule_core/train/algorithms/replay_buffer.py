"""A uniform replay buffer of (n-step) transitions in preallocated NumPy arrays."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any

import numpy as np

from rlmodule_core.columns import Columns

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """A ring buffer of transitions with optional n-step returns.

    ``add`` takes one vector-env step (arrays with a leading ``num_envs`` axis); with
    ``n_step > 1`` each stored transition carries the discounted sum of the next n rewards
    (cut at episode ends), the observation n steps later and ``gamma ** k`` in
    ``"discounts"``, so the loss bootstraps with the right power of gamma.

    Example:
        >>> buffer = ReplayBuffer(capacity=50_000, num_envs=1, n_step=3, gamma=0.99)
        >>> buffer.add(obs, actions, rewards, next_obs, terminateds, truncateds)
        >>> batch = buffer.sample(64, rng)
    """

    def __init__(self, capacity: int, num_envs: int, *, n_step: int = 1, gamma: float = 0.99) -> None:
        if capacity < 1 or n_step < 1:
            raise ValueError(f"Expected capacity >= 1 and n_step >= 1; received {capacity}, {n_step}.")
        self.capacity, self.n_step, self.gamma = capacity, n_step, gamma
        self.num_envs = num_envs
        #: The last (< n_step) steps of each unfinished trajectory, by trajectory key.
        self._pending: dict[Hashable, deque] = {}
        self._data: dict[str, np.ndarray] | None = None
        self._next = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, actions, rewards, next_obs, terminateds, truncateds, *, offset: int = 0) -> None:
        """Adds one vector-env step; n-step transitions are stored once complete.

        The arrays' env ``i`` is the buffer's env ``offset + i`` (several remote runners
        each add their own envs' steps); env ``j``'s steps form trajectory ``j``.
        """
        if offset < 0 or offset + len(rewards) > self.num_envs:
            raise ValueError(
                f"Envs {offset}..{offset + len(rewards) - 1} do not fit a buffer made for {self.num_envs} env(s)."
            )
        for i in range(len(rewards)):
            self.add_step(offset + i, obs[i], actions[i], rewards[i], next_obs[i], terminateds[i], truncateds[i])

    def add_step(self, trajectory: Hashable, obs, action, reward, next_obs, terminated, truncated) -> None:
        """Adds the next step of the trajectory named ``trajectory`` (any hashable key).

        Steps of one key must be consecutive steps of one agent in one episode; the
        trajectory ends at a terminated or truncated step. Multi-agent training keys each
        agent's trajectory by ``(runner, episode, agent)``, so n-step returns never mix agents.

        Example:
            >>> buffer.add_step((0, 7, "agent_1"), obs, 1, 1.0, next_obs, False, False)
        """
        pending = self._pending.setdefault(trajectory, deque())
        pending.append((obs, action, float(reward), next_obs, bool(terminated)))
        if len(pending) == self.n_step:
            self._store(pending)
            pending.popleft()
        if terminated or truncated:
            self.end_trajectory(trajectory)
        elif not pending:  # n_step=1: nothing waits, so the key need not be kept
            del self._pending[trajectory]

    def end_trajectory(self, trajectory: Hashable) -> int:
        """Stores the shorter returns of a trajectory's last steps; returns how many.

        Called at a terminated or truncated step, and for a trajectory that will get no
        more steps (its env runner died): each stored return then stops at the last step
        seen and bootstraps from that step's next observation, as at a truncation.
        """
        pending = self._pending.pop(trajectory, None) or deque()
        stored = len(pending)
        while pending:
            self._store(pending)
            pending.popleft()
        return stored

    @property
    def open_trajectories(self) -> list[Hashable]:
        """Keys of the trajectories with steps not yet stored (fewer than ``n_step`` so far)."""
        return list(self._pending)

    def _store(self, pending: deque) -> None:
        ret, discount = 0.0, 1.0
        for _, _, reward, next_obs, terminated in pending:  # noqa: B007 - the last next_obs is used below
            ret += discount * reward
            discount *= self.gamma
            if terminated:
                break
        obs, action = pending[0][0], pending[0][1]
        row = {
            Columns.OBS: obs, Columns.ACTIONS: action, Columns.REWARDS: np.float32(ret),
            Columns.NEXT_OBS: next_obs, Columns.TERMINATEDS: np.float32(terminated),
            "discounts": np.float32(discount),
        }
        if self._data is None:
            self._data = {
                k: np.zeros((self.capacity, *np.shape(v)), dtype=np.asarray(v).dtype) for k, v in row.items()
            }
        for key, value in row.items():
            self._data[key][self._next] = value
        self._next = (self._next + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, Any]:
        """``batch_size`` transitions drawn uniformly (with replacement)."""
        if self.size == 0:
            raise ValueError("Cannot sample from an empty replay buffer; add transitions first.")
        index = rng.integers(0, self.size, size=batch_size)
        return {key: value[index] for key, value in self._data.items()}
