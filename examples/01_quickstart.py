"""01 - Quickstart: write a module once, build it on a framework, act, save, restore.

Run: python examples/01_quickstart.py [framework]   (default: numpy, which needs no framework)
"""

import sys

import gymnasium as gym
import numpy as np

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.apis import ValueFunctionAPI


class TinyActorCritic(rlm.RLModule, ValueFunctionAPI):
    """A policy and a value head on a shared encoder, written against self.nn / self.ops."""

    def setup(self):
        n_in = self.observation_space.shape[0]
        self.encoder = self.nn.Sequential([
            self.nn.Dense(n_in, 64, activation="tanh"),
            self.nn.Dense(64, 64, activation="tanh"),
        ])
        self.pi = self.nn.Dense(64, self.action_space.n)
        self.vf = self.nn.Dense(64, 1)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(self.encoder(batch[Columns.OBS]))}

    def compute_values(self, batch, embeddings=None):
        if embeddings is None:
            embeddings = self.encoder(batch[Columns.OBS])
        return self.ops.squeeze(self.vf(embeddings), -1)


def main(framework: str = "numpy") -> None:
    env = gym.make("CartPole-v1")
    module = rlm.RLModuleSpec(
        module_class=TinyActorCritic,
        observation_space=env.observation_space,
        action_space=env.action_space,
        model_config={"seed": 0},
        framework=framework,
    ).build()

    obs, _ = env.reset(seed=0)
    out = module.forward_inference({Columns.OBS: obs[None]})
    logits = module.backend.ops.to_numpy(out[Columns.ACTION_DIST_INPUTS])
    print(f"{framework}: greedy action {int(np.argmax(logits))}, logits {np.round(logits, 4)}")

    # A checkpoint records the class by its path ("__main__:TinyActorCritic" here). Restoring
    # never imports code the checkpoint names: the class resolves because this script defined
    # it. Another process would pass module_class=TinyActorCritic (or import the module that
    # defines it, or register it with rlm.register_module_class).
    path = module.save_to_path()  # a temporary directory: metadata.json + safetensors
    restored = rlm.RLModule.from_checkpoint(path, framework="numpy")
    again = restored.forward_inference({Columns.OBS: obs[None]})[Columns.ACTION_DIST_INPUTS]
    np.testing.assert_allclose(again, logits, atol=1e-5)
    print(f"saved to {path} and restored on numpy with the same outputs")


if __name__ == "__main__":
    main(*sys.argv[1:])
