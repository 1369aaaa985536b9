"""`rlmodule inspect` / `rlmodule convert` on NumPy checkpoints (other backends: tests/portability)."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core.cli import main
from rlmodule_core.modules import DefaultPPORLModule

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(2)


@pytest.fixture
def ppo_checkpoint(tmp_path):
    module = rlm.RLModuleSpec(
        module_class=DefaultPPORLModule, observation_space=OBS, action_space=ACT,
        model_config={"fcnet_hiddens": [8, 8]}, framework="numpy",
    ).build()
    return module, module.save_to_path(tmp_path / "ppo")


def test_inspect_text(ppo_checkpoint, capsys):
    module, path = ppo_checkpoint
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert "rlmodule_core.modules.ppo:DefaultPPORLModule" in out and "checksums:         blake3: OK" in out
    assert "encoder.mlp.layers.0.kernel  (4, 8)" in out
    n = sum(v.size for v in module.get_state().values())
    assert f"parameters:        {n:,}" in out


def test_inspect_json_lists_every_parameter(ppo_checkpoint, capsys):
    module, path = ppo_checkpoint
    assert main(["inspect", path, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    state = module.get_state()
    assert {p["name"]: tuple(p["shape"]) for p in info["parameters"]} == {k: v.shape for k, v in state.items()}
    assert info["num_bytes"] == sum(v.nbytes for v in state.values())
    assert info["framework"] == "numpy" and info["checksums_ok"]
    assert info["format_version"] == 2 and info["digest"] == "blake3"


def test_inspect_help_names_the_checksum_algorithms(capsys):
    with pytest.raises(SystemExit):
        main(["inspect", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "BLAKE3 for format version 2, sha256 for checkpoints of format version 1" in out


def test_inspect_multi_module(tmp_path, capsys):
    module = rlm.RLModuleSpec(module_class=DefaultPPORLModule, observation_space=OBS, action_space=ACT,
                              model_config={"fcnet_hiddens": [4]}, framework="numpy").build()
    multi = module.as_multi_rl_module()
    multi.save_to_path(tmp_path / "m")
    assert main(["inspect", str(tmp_path / "m"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert list(info["modules"]) == [rlm.DEFAULT_MODULE_ID]
    assert info["num_parameters"] == info["modules"][rlm.DEFAULT_MODULE_ID]["num_parameters"]


def test_inspect_corrupted_exits_1(ppo_checkpoint, capsys):
    _, path = ppo_checkpoint
    state = f"{path}/module_state.safetensors"
    data = bytearray(open(state, "rb").read())
    data[-1] ^= 1
    open(state, "wb").write(bytes(data))
    assert main(["inspect", path]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["inspect", "convert"])
def test_bad_paths_exit_2(tmp_path, capsys, command):
    extra = ["--to", "numpy", str(tmp_path / "out")] if command == "convert" else []
    assert main([command, str(tmp_path / "missing"), *extra]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file.txt").write_text("x")
    assert main([command, str(tmp_path), *extra]) == 2
    assert "not an rlmodule-core checkpoint" in capsys.readouterr().err


def test_convert_inference_only_verifies_and_writes(ppo_checkpoint, tmp_path, capsys):
    module, path = ppo_checkpoint
    assert main(["convert", path, str(tmp_path / "slim"), "--to", "np", "--inference-only"]) == 0
    assert "match the NumPy reference" in capsys.readouterr().out
    slim = rlm.RLModule.from_checkpoint(tmp_path / "slim")
    assert slim.inference_only and not any(k.startswith("vf") for k in slim.get_state())
    obs = {"obs": np.ones((2, 4), np.float32)}
    np.testing.assert_allclose(slim.forward_inference(obs)["action_dist_inputs"],
                               module.forward_inference(obs)["action_dist_inputs"])


def test_convert_to_unknown_framework_exits_2(ppo_checkpoint, tmp_path, capsys):
    _, path = ppo_checkpoint
    assert main(["convert", path, str(tmp_path / "x"), "--to", "caffe"]) == 2
    assert "Unknown framework 'caffe'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_console_entry_points_run():
    for cmd in (["rlmodule", "--help"], [sys.executable, "-m", "rlmodule_core", "inspect", "--help"]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode == 0 and "checkpoint" in result.stdout


def test_inspect_into_a_closed_pipe_stops_quietly(ppo_checkpoint):
    """`rlmodule inspect CKPT --json | head -1`: the reader leaves early; no traceback, exit 141."""
    _, path = ppo_checkpoint
    process = subprocess.Popen(
        [sys.executable, "-m", "rlmodule_core", "inspect", path, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before the first write
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_inspect_learner_checks_the_optimizer_state_too(tmp_path, capsys):
    """A learner checkpoint is described by its module, but a corrupt optimizer state must not read as OK."""
    import shutil
    from importlib.resources import files

    source = files("rlmodule_core.testing") / "data" / "checkpoints_v1" / "learner_torch"
    learner = tmp_path / "learner"
    shutil.copytree(str(source), learner)
    assert main(["inspect", str(learner)]) == 0
    capsys.readouterr()
    state = learner / "learner_state.safetensors"
    data = bytearray(state.read_bytes())
    data[-1] ^= 1
    state.write_bytes(bytes(data))
    assert main(["inspect", str(learner), "--json"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert info["checksums_ok"] is False
    assert "learner_state.safetensors" in info["checksum_error"]


def test_train_help_names_every_algorithm_and_its_defaults():
    from rlmodule_core.cli.main import build_parser
    from rlmodule_core.train.algorithms import ALGORITHMS
    from rlmodule_core.train.loop import DEFAULT_EVAL_EVERY, DEFAULT_STEPS

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    text = " ".join(train.format_help().split())  # argparse wraps lines: compare word sequences
    for algo in ALGORITHMS:
        assert f"{ALGORITHMS[algo].config_class.__name__}" in text
        assert f"{algo} {DEFAULT_STEPS[algo]}" in text and f"{algo} {DEFAULT_EVAL_EVERY[algo]}" in text
    assert "--set model.use_lstm=true" in text and "StatelessCartPole-v1" in text
