"""Environments that fail on purpose, for the fault-tolerance tests of remote env runners.

They live here (not in a test file) so that Ray's worker processes can import them:
the ray tests put this folder on the workers' PYTHONPATH.
"""

from __future__ import annotations

import time

import gymnasium as gym


class FailingCartPole(gym.Wrapper):
    """CartPole that fails at its ``fail_at``-th step: raises, or hangs for ``hang_s`` seconds.

    With ``once_marker`` (a file path) only the first env of all processes to get there
    fails (it creates the file; the others see it); without it every copy fails.
    """

    def __init__(self, fail_at: int, once_marker: str | None = None, hang_s: float | None = None) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.fail_at, self.once_marker, self.hang_s = fail_at, once_marker, hang_s
        self.steps = 0

    def step(self, action):
        self.steps += 1
        if self.steps == self.fail_at and self._claim():
            if self.hang_s is not None:
                time.sleep(self.hang_s)
            else:
                raise RuntimeError(f"FailingCartPole crashed on purpose at step {self.steps}")
        return self.env.step(action)

    def _claim(self) -> bool:
        if self.once_marker is None:
            return True
        try:
            with open(self.once_marker, "x"):
                return True
        except FileExistsError:
            return False
