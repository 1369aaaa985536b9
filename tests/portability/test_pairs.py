"""Every ordered pair of backends exchanges checkpoints and gives the same outputs.

Run by the `portability` nox session with all backends installed
(RLMODULE_TEST_BACKENDS=numpy,torch,tf,jax); with fewer backends it covers the pairs
among the ones named.
"""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.cli.convert import sample_batch
from rlmodule_core.modules import DefaultDQNRLModule, DefaultPPORLModule, DefaultSACRLModule
from rlmodule_core.testing import selected_backends
from rlmodule_core.testing.helpers import assert_tree_close, numpy_tree, states_equal

BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
IMAGE = gym.spaces.Box(0, 255, (42, 42, 3), np.uint8)
DICT = gym.spaces.Dict({"pos": gym.spaces.Box(-1.0, 1.0, (3,), np.float32), "cell": gym.spaces.Discrete(5)})
DISCRETE_OBS = gym.spaces.Discrete(7)
SMALL = {"fcnet_hiddens": [16, 16], "seed": 0}

CASES = {
    "ppo-box-discrete": (DefaultPPORLModule, BOX4, gym.spaces.Discrete(3), {}),
    "ppo-box-box": (DefaultPPORLModule, BOX4, gym.spaces.Box(-1, 1, (2,), np.float32), {"vf_share_layers": False}),
    "ppo-image": (DefaultPPORLModule, IMAGE, gym.spaces.Discrete(4), {}),
    "ppo-dict": (DefaultPPORLModule, DICT, gym.spaces.Discrete(2), {}),
    "ppo-discrete-obs": (DefaultPPORLModule, DISCRETE_OBS, gym.spaces.Discrete(2), {}),
    "ppo-lstm": (DefaultPPORLModule, DICT, gym.spaces.Discrete(2), {"use_lstm": True, "lstm_cell_size": 8}),
    "dqn-dueling-distributional": (DefaultDQNRLModule, BOX4, gym.spaces.Discrete(3), {"num_atoms": 5, "epsilon": 0.0}),
    "dqn-image": (DefaultDQNRLModule, IMAGE, gym.spaces.Discrete(3), {"dueling": False, "epsilon": 0.0}),
    "sac-box": (DefaultSACRLModule, BOX4, gym.spaces.Box(-2, 2, (2,), np.float32), {}),
    "sac-discrete": (DefaultSACRLModule, DICT, gym.spaces.Discrete(3), {}),
}

PAIRS = [(a, b) for a, b in itertools.permutations(selected_backends(), 2)]


def _build(case: str, framework: str) -> rlm.RLModule:
    cls, obs, act, extra = CASES[case]
    module = rlm.RLModuleSpec(
        module_class=cls, observation_space=obs, action_space=act,
        model_config={**SMALL, **extra}, framework=framework,
    ).build()
    if cls is not DefaultPPORLModule:
        module.make_target_networks()
    return module


def _batch(module: rlm.RLModule) -> dict:
    recurrent = module.is_stateful()
    time_steps = 3 if recurrent else None
    obs = sample_batch(module.observation_space, 4, seed=1, time_steps=time_steps)
    batch = {Columns.OBS: obs, Columns.NEXT_OBS: sample_batch(module.observation_space, 4, seed=2, time_steps=time_steps)}
    if isinstance(module.action_space, gym.spaces.Box):
        batch[Columns.ACTIONS] = sample_batch(module.action_space, 4, seed=3)
    return batch


def _outputs(module: rlm.RLModule, framework: str) -> dict:
    batch = _batch(module)
    out = {
        "inference": module.forward_inference(batch),
        "exploration": module.forward_exploration(batch, t=10**6),
        "train": module.forward_train(batch),
    }
    if hasattr(module, "compute_values"):
        out["values"] = module.compute_values(batch)
    if hasattr(module, "compute_q_values"):
        out["q"] = module.compute_q_values(batch)
    if hasattr(module, "forward_target"):
        out["target"] = module.forward_target(batch)
    return numpy_tree(out, framework)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("source, target", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_checkpoint_moves_between_backends(tmp_path, case, source, target):
    original = _build(case, source)
    original.save_to_path(tmp_path / "ckpt")
    restored = rlm.RLModule.from_checkpoint(tmp_path / "ckpt", framework=target)
    assert restored.framework == target and type(restored)._neutral_class is CASES[case][0]
    assert states_equal(restored.get_state(), original.get_state())
    assert_tree_close(_outputs(restored, target), _outputs(original, source), atol=5e-5, rtol=1e-4)


@pytest.mark.parametrize("source, target", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_same_seed_builds_the_same_module_everywhere(source, target):
    a, b = _build("ppo-dict", source), _build("ppo-dict", target)
    assert states_equal(a.get_state(), b.get_state())


@pytest.mark.parametrize("source, target", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_multi_module_with_different_sub_modules(tmp_path, source, target):
    multi = rlm.MultiRLModule()
    multi.add_module("ppo", _build("ppo-box-discrete", source))
    multi.add_module("sac", _build("sac-box", source))
    multi.save_to_path(tmp_path / "multi")
    restored = rlm.MultiRLModule.from_checkpoint(tmp_path / "multi", framework=target)
    assert restored.framework == target and sorted(restored.keys()) == ["ppo", "sac"]
    for module_id in ("ppo", "sac"):
        assert_tree_close(_outputs(restored[module_id], target), _outputs(multi[module_id], source), atol=5e-5, rtol=1e-4)


@pytest.mark.parametrize("source, target", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_cli_convert_between_backends(tmp_path, source, target, capsys):
    from rlmodule_core.cli import main

    _build("ppo-image", source).save_to_path(tmp_path / "src")
    assert main(["convert", str(tmp_path / "src"), str(tmp_path / "dst"), "--to", target, "--inference-only"]) == 0
    assert main(["inspect", str(tmp_path / "dst"), "--json"]) == 0
    assert f'"framework": "{target}"' in capsys.readouterr().out
