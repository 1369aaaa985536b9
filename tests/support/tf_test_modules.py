"""Native TF modules for the TF tests (importable by class path, for checkpoints)."""

from __future__ import annotations

from rlmodule_tf import TfRLModule, keras, make_target_network

from rlmodule_core import Columns
from rlmodule_core.apis import TargetNetworkAPI


class NativePolicy(TfRLModule, TargetNetworkAPI):
    """Keras layers used directly: a Sequential trunk with Dropout and BatchNorm, a head,
    a free variable, and a target copy of the head."""

    def setup(self):
        n_in = self.observation_space.shape[0]
        self.trunk = keras.Sequential(
            [
                keras.Input((n_in,)),
                keras.layers.Dense(8, activation="tanh"),
                keras.layers.Dropout(0.5),
                keras.layers.BatchNormalization(),
            ]
        )
        self.pi = keras.layers.Dense(int(self.action_space.n))
        self.pi.build((None, 8))
        self.log_std = self.add_weight(shape=(2,), initializer="zeros", name="log_std")

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(self.trunk(batch[Columns.OBS]))}

    def make_target_networks(self):
        self._target_pi = make_target_network(self.pi)

    def get_target_network_pairs(self):
        return [(self.pi, self._target_pi)]

    def forward_target(self, batch, **kwargs):
        return {"logits": self._target_pi(self.trunk(batch[Columns.OBS], training=False))}
