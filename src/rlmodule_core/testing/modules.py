"""Small neutral modules the conformance suite builds on every backend.

Importable by class path (``rlmodule_core.testing.modules:TinyPolicy``), so checkpoints
of them restore anywhere.

Example:
    >>> from rlmodule_core.testing.helpers import build
    >>> module = build(TinyPolicy, "numpy")
"""

from __future__ import annotations

from rlmodule_core import Block, Columns, RLModule
from rlmodule_core.apis import InferenceOnlyAPI, TargetNetworkAPI, ValueFunctionAPI

__all__ = ["MLP", "EveryLayer", "FreeBias", "KwargsEcho", "QWithTarget", "TinyPolicy", "WidePolicy"]


class MLP(Block):
    """A neutral block: Dense layers with one activation."""

    def setup(self, sizes, activation="tanh"):
        self.net = self.nn.Sequential(
            [self.nn.Dense(a, b, activation=activation) for a, b in zip(sizes, sizes[1:], strict=False)]
        )

    def forward(self, x):
        return self.net(x)


class TinyPolicy(RLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """Actor-critic on a flat observation: encoder, policy head, value head."""

    def setup(self):
        hidden = self.model_config.get("hidden", 16)
        self.encoder = MLP([self.observation_space.shape[0], hidden, hidden])
        self.pi = self.nn.Dense(hidden, self.action_space.n)
        self.vf = self.nn.Dense(hidden, 1)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(self.encoder(batch[Columns.OBS]))}

    def _forward_train(self, batch, **kwargs):
        embeddings = self.encoder(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.pi(embeddings), Columns.EMBEDDINGS: embeddings}

    def compute_values(self, batch, embeddings=None):
        if embeddings is None:
            embeddings = self.encoder(batch[Columns.OBS])
        return self.ops.squeeze(self.vf(embeddings), -1)

    def get_non_inference_attributes(self):
        return ["vf"]


class WidePolicy(TinyPolicy):
    """The same module with another architecture (for runtime-added modules)."""

    def setup(self):
        self.model_config.setdefault("hidden", 32)
        super().setup()


class KwargsEcho(RLModule):
    """Returns the keyword arguments its forward passes received."""

    def setup(self):
        self.head = self.nn.Dense(self.observation_space.shape[0], 1)

    def _forward(self, batch, **kwargs):
        return {"out": self.head(batch[Columns.OBS]), "kwargs": kwargs, "phase": "generic"}

    def _forward_inference(self, batch, **kwargs):
        return {"out": self.head(batch[Columns.OBS]), "kwargs": kwargs, "phase": "inference"}


class QWithTarget(RLModule, TargetNetworkAPI, InferenceOnlyAPI):
    """A Q-network with a target copy (named with 'target', part of the state)."""

    def setup(self):
        n_in = self.observation_space.shape[0]
        self.qf = self.nn.Sequential(
            [self.nn.Dense(n_in, 8, activation="relu"), self.nn.Dense(8, self.action_space.n)]
        )

    def make_target_networks(self):
        self._target_qf = self.backend.make_target_network(self.qf)

    def get_target_network_pairs(self):
        return [(self.qf, self._target_qf)]

    def forward_target(self, batch, **kwargs):
        return {"qf_preds": self._target_qf(batch[Columns.OBS])}

    def _forward(self, batch, **kwargs):
        return {"qf_preds": self.qf(batch[Columns.OBS])}

    def get_non_inference_attributes(self):
        return ["_target_qf"]


class EveryLayer(RLModule):
    """Uses every neutral layer: Conv2D (valid and same), LayerNorm, LSTM, Dict, Flatten.

    Observations: Dict(image (8, 8, 3), vec (5,)); the vector runs through an LSTM over a
    time axis of the batch (B, T, 5).
    """

    def setup(self):
        nn = self.nn
        self.conv = nn.Sequential(
            [
                nn.Conv2D(3, 4, 3, stride=2, padding="same", activation="relu"),
                nn.Conv2D(4, 6, (2, 3), stride=1, padding="valid", activation="elu"),
                nn.Flatten(),
            ]
        )
        self.heads = nn.Dict(
            {
                "img": nn.Sequential([nn.Dense(3 * 2 * 6, 7), nn.LayerNorm(7), nn.Activation("swish")]),
                "vec": nn.Dense(4, 7, activation="sigmoid"),
            }
        )
        self.lstm = nn.LSTM(5, 4)

    def _forward(self, batch, **kwargs):
        obs = batch[Columns.OBS]
        img = self.heads["img"](self.conv(obs["img"]))
        seq, state = self.lstm(obs["vec"], batch.get(Columns.STATE_IN))
        vec = self.heads["vec"](seq)
        return {"img": img, "vec": vec, Columns.STATE_OUT: state}


class FreeBias(RLModule):
    """A Dense layer plus a free parameter vector (nn.Bias)."""

    def setup(self):
        self.mean = self.nn.Dense(self.observation_space.shape[0], 2)
        self.log_std = self.nn.Bias(2, initializer={"name": "constant", "value": -0.5})

    def _forward(self, batch, **kwargs):
        mean = self.mean(batch[Columns.OBS])
        return {"mean": mean, "log_std": self.log_std(self.ops.zeros_like(mean))}
