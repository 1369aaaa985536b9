"""A native NumPy module for the tests (importable by class path, for checkpoints)."""

from __future__ import annotations

from rlmodule_numpy import NumpyRLModule

from rlmodule_core import Columns


class NativeNumpyPolicy(NumpyRLModule):
    """A module written for one backend: it must not move to another framework."""

    def setup(self):
        self.pi = self.nn.Dense(self.observation_space.shape[0], self.action_space.n)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}
