"""Modules exported to ONNX by the tests, and the check that runs a file with ONNX Runtime.

The reference is always the NumPy backend's forward pass of the same checkpoint; the
greedy actions it is compared with come from the module's own distribution class
(``to_deterministic().sample()``) on NumPy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import onnx
import onnxruntime as ort

import rlmodule_core as rlm
from rlmodule_core import Block, Columns, RLModule
from rlmodule_core.cli.convert import sample_batch
from rlmodule_core.modules import DefaultDQNRLModule, DefaultPPORLModule, DefaultSACRLModule

BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
IMAGE = gym.spaces.Box(0, 255, (42, 42, 3), np.uint8)
DICT = gym.spaces.Dict({"pos": gym.spaces.Box(-1.0, 1.0, (3,), np.float32), "cell": gym.spaces.Discrete(5)})
TUPLE = gym.spaces.Tuple((gym.spaces.Box(-2.0, 2.0, (3,), np.float32), gym.spaces.MultiDiscrete([2, 3])))
SMALL = {"fcnet_hiddens": [16, 16], "seed": 0}
LSTM = {"use_lstm": True, "lstm_cell_size": 8}

#: name -> (module class, observation space, action space, model_config extras)
CASES: dict[str, tuple[type, gym.Space, gym.Space, dict[str, Any]]] = {
    "ppo-mlp-discrete": (DefaultPPORLModule, BOX4, gym.spaces.Discrete(3), {}),
    "ppo-mlp-box": (DefaultPPORLModule, BOX4, gym.spaces.Box(-1, 1, (2,), np.float32), {"vf_share_layers": False}),
    "ppo-box-2d-actions": (DefaultPPORLModule, BOX4, gym.spaces.Box(-1, 1, (2, 3), np.float32), {}),
    "ppo-free-log-std-layernorm": (
        DefaultPPORLModule, BOX4, gym.spaces.Box(-1, 1, (2,), np.float32),
        {"free_log_std": True, "fcnet_use_layernorm": True, "fcnet_activation": "relu"},
    ),
    "ppo-cnn": (DefaultPPORLModule, IMAGE, gym.spaces.Discrete(4), {}),
    "ppo-cnn-same-padding": (
        DefaultPPORLModule, gym.spaces.Box(0.0, 1.0, (10, 10, 2), np.float32), gym.spaces.Discrete(2),
        {"conv_filters": [[4, 3, 2, "same"], [8, 3, 1, "same"]], "conv_activation": "elu"},
    ),
    "ppo-dict": (DefaultPPORLModule, DICT, gym.spaces.Discrete(2), {}),
    "ppo-tuple": (DefaultPPORLModule, TUPLE, gym.spaces.MultiDiscrete([3, 2]), {"fcnet_activation": "swish"}),
    "ppo-multibinary-discrete-start": (
        DefaultPPORLModule,
        gym.spaces.Dict({"bits": gym.spaces.MultiBinary(3), "room": gym.spaces.Discrete(4, start=2)}),
        gym.spaces.Discrete(2), {"fcnet_activation": "leaky_relu"},
    ),
    "ppo-lstm": (DefaultPPORLModule, DICT, gym.spaces.Discrete(2), LSTM),
    "ppo-lstm-prev-action-reward": (
        DefaultPPORLModule, BOX4, gym.spaces.Box(-1, 1, (2,), np.float32),
        {**LSTM, "lstm_use_prev_action": True, "lstm_use_prev_reward": True},
    ),
    "dqn": (DefaultDQNRLModule, BOX4, gym.spaces.Discrete(3), {"dueling": False}),
    "dqn-dueling": (DefaultDQNRLModule, BOX4, gym.spaces.Discrete(3), {"dueling": True}),
    "dqn-distributional": (DefaultDQNRLModule, BOX4, gym.spaces.Discrete(3), {"num_atoms": 5}),
    "dqn-cnn": (DefaultDQNRLModule, IMAGE, gym.spaces.Discrete(3), {"dueling": False}),
    "sac-box": (DefaultSACRLModule, BOX4, gym.spaces.Box(-2, 2, (2,), np.float32), {}),
    "sac-box-array-bounds": (
        DefaultSACRLModule, BOX4, gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 3.0], np.float32)), {},
    ),
    "sac-discrete": (DefaultSACRLModule, DICT, gym.spaces.Discrete(3), {}),
}


def build(case: str, framework: str) -> RLModule:
    """The case's module on ``framework`` (target networks made for DQN and SAC)."""
    cls, obs, act, extra = CASES[case]
    module = rlm.RLModuleSpec(
        module_class=cls, observation_space=obs, action_space=act,
        model_config={**SMALL, **extra}, framework=framework,
    ).build()
    if cls is not DefaultPPORLModule:
        module.make_target_networks()
    return module


def reference_batch(module: RLModule, size: int, seed: int = 1) -> dict[str, Any]:
    """Sampled observations (and random recurrent state / previous actions and rewards)."""
    recurrent = module.is_stateful()
    time_steps = 3 if recurrent else None
    batch: dict[str, Any] = {Columns.OBS: sample_batch(module.observation_space, size, seed=seed, time_steps=time_steps)}
    if recurrent:
        rng = np.random.default_rng(seed)
        batch[Columns.STATE_IN] = {
            k: rng.normal(size=(size, *np.shape(v))).astype(np.float32) for k, v in module.get_initial_state().items()
        }
        config = module.model_config
        if config.get("lstm_use_prev_action"):
            batch[Columns.PREV_ACTIONS] = sample_batch(module.action_space, size, seed=seed + 1, time_steps=time_steps)
        if config.get("lstm_use_prev_reward"):
            batch[Columns.PREV_REWARDS] = rng.normal(size=(size, time_steps)).astype(np.float32)
    return batch


def _flat(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    if isinstance(tree, list | tuple):
        return {k: v for i, value in enumerate(tree) for k, v in _flat(value, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): np.asarray(tree)}


def feeds(session: ort.InferenceSession, batch: dict[str, Any]) -> dict[str, np.ndarray]:
    """The batch's leaves under the graph's input names (``obs.pos``, ``state_in.h``, ...)."""
    flat = _flat(batch)
    missing = [i.name for i in session.get_inputs() if i.name not in flat]
    assert not missing, f"the graph wants inputs {missing} that the batch does not have ({sorted(flat)})"
    return {i.name: flat[i.name] for i in session.get_inputs()}


def run_onnx(path: str | Path, batch: dict[str, Any]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds(session, batch)), strict=True))


def numpy_reference(checkpoint: str | Path, batch: dict[str, Any], *, with_actions: bool, phase: str = "inference") -> dict[str, np.ndarray]:
    """``forward_<phase>`` of the checkpoint on the NumPy backend, plus greedy actions if asked."""
    flags = {} if phase == "train" else {"inference_only": True}
    module = rlm.RLModule.from_checkpoint(checkpoint, framework="numpy", **flags)
    out = getattr(module, f"forward_{phase}")(batch)
    if with_actions and Columns.ACTIONS not in out:
        dist = module.get_inference_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
        out = {**out, Columns.ACTIONS: dist.to_deterministic().sample()}
    return _flat(out)


def max_abs_diff(want: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> float:
    """Largest absolute difference; the key sets, shapes and dtype kinds must agree."""
    assert sorted(want) == sorted(got), (sorted(want), sorted(got))
    worst = 0.0
    for key, value in want.items():
        assert got[key].shape == value.shape, (key, got[key].shape, value.shape)
        assert got[key].dtype.kind == value.dtype.kind, (key, got[key].dtype, value.dtype)
        if value.size:
            worst = max(worst, float(np.max(np.abs(value.astype(np.float64) - got[key].astype(np.float64)))))
    return worst


def export_and_compare(checkpoint: str | Path, out: str | Path, *, with_actions: bool = True, opset: int | None = None,
                       phase: str = "inference", sizes: tuple[int, ...] = (1, 7)) -> float:
    """Exports, checks the file with onnx.checker, runs it at several batch sizes; max diff."""
    path = rlm.export_onnx(checkpoint, out, with_actions=with_actions, opset=opset, phase=phase)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    module = rlm.RLModule.from_checkpoint(checkpoint, framework="numpy", inference_only=True)
    worst = 0.0
    for size in sizes:  # one file, several batch sizes: the batch axis is dynamic
        batch = reference_batch(module, size, seed=size)
        want = numpy_reference(checkpoint, batch, with_actions=with_actions, phase=phase)
        worst = max(worst, max_abs_diff(want, run_onnx(path, batch)))
    return worst


# ---- a user's own neutral module (not a default one) ------------------------------------------


class Tower(Block):
    """Dense, ELU, LayerNorm."""

    def setup(self, size_in: int, size: int):
        self.dense = self.nn.Dense(size_in, size, activation="elu")
        self.norm = self.nn.LayerNorm(size)

    def forward(self, x):
        return self.norm(self.dense(x))


class TwoTowerPolicy(RLModule):
    """Two towers over the observation, concatenated, normalized log-probabilities out."""

    def setup(self):
        n = self.observation_space.shape[0]
        self.towers = self.nn.List([Tower(n, 8), Tower(n, 8)])
        self.pi = self.nn.Dense(16, self.action_space.n)

    def _forward(self, batch, **kwargs):
        obs = batch[Columns.OBS]
        features = self.ops.concatenate([tower(obs) for tower in self.towers], axis=-1)
        return {Columns.ACTION_DIST_INPUTS: self.ops.log_softmax(self.pi(features), axis=-1)}


# ---- modules that cannot be exported (errors must name the op and the layer) ---------------------


class NoiseBlock(Block):
    """Adds Gaussian noise: random draws are not exportable."""

    def setup(self, size: int):
        self.dense = self.nn.Dense(size, size)

    def forward(self, x):
        return self.dense(x) + self.ops.normal(None, self.ops.shape(x))


class NoisyPolicy(RLModule):
    def setup(self):
        self.noise = NoiseBlock(self.observation_space.shape[0])

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.noise(batch[Columns.OBS])}


class BranchingPolicy(RLModule):
    """Branches in Python on a tensor's value."""

    def setup(self):
        self.pi = self.nn.Dense(self.observation_space.shape[0], 2)

    def _forward(self, batch, **kwargs):
        logits = self.pi(batch[Columns.OBS])
        if self.ops.sum(logits) > 0:
            logits = -logits
        return {Columns.ACTION_DIST_INPUTS: logits}


class ExtraColumnPolicy(RLModule):
    """Reads a batch column that is no graph input."""

    def setup(self):
        self.pi = self.nn.Dense(self.observation_space.shape[0], 2)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS]) * batch["temperature"]}
