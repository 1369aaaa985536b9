"""Checkpoints of earlier format versions still restore, fully verified, on every backend.

``data/checkpoints_v1`` holds checkpoints written by rlmodule-core before format version 2
(sha256 checksums): a NumPy ``DefaultPPORLModule``, a MultiRLModule of two, and a learner
checkpoint of a torch module (see ``data/checkpoints_v1/README.md``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import rlmodule_core as rlm
from rlmodule_core.checkpoint import CheckpointError, CorruptCheckpointError, read_metadata
from rlmodule_core.checkpoint.inspect import describe
from rlmodule_core.testing.helpers import numpy_tree, states_equal

V1 = Path(__file__).parent / "data" / "checkpoints_v1"
EXPECTED = json.loads((V1 / "expected.json").read_text())
OBS = np.asarray(EXPECTED["obs"], np.float32)


def _logits(module, framework):
    return numpy_tree(module.forward_inference({rlm.Columns.OBS: OBS}), framework)["action_dist_inputs"]


def _copy(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(V1 / name, tmp_path / name))


def _flip(file: Path, offset: int) -> None:
    data = bytearray(file.read_bytes())
    data[offset] ^= 0x01
    file.write_bytes(bytes(data))


def test_the_fixtures_are_version_1_with_sha256():
    for name in ("ppo_numpy", "multi_numpy", "multi_numpy/a", "learner_torch", "learner_torch/module"):
        metadata = json.loads((V1 / name / "metadata.json").read_text())
        assert metadata["format_version"] == 1
        assert len(metadata["metadata_sha256"]) == 64 and "digest" not in metadata


def test_v1_module_restores_with_its_outputs_and_weights(framework):
    module = rlm.RLModule.from_checkpoint(V1 / "ppo_numpy", framework=framework)
    assert module.framework == framework
    np.testing.assert_allclose(_logits(module, framework), EXPECTED["ppo_numpy"], atol=2e-5, rtol=1e-5)
    assert states_equal(module.get_state(), load_file(V1 / "ppo_numpy" / "module_state.safetensors"))


def test_v1_module_restores_into_an_existing_module(framework):
    module = rlm.RLModule.from_checkpoint(V1 / "multi_numpy" / "b", framework=framework)
    module.restore_from_path(V1 / "ppo_numpy")
    np.testing.assert_allclose(_logits(module, framework), EXPECTED["ppo_numpy"], atol=2e-5, rtol=1e-5)


def test_v1_multi_module_restores(framework):
    multi = rlm.MultiRLModule.from_checkpoint(V1 / "multi_numpy", framework=framework)
    assert sorted(multi.keys()) == ["a", "b"]
    np.testing.assert_allclose(_logits(multi["a"], framework), EXPECTED["ppo_numpy"], atol=2e-5, rtol=1e-5)
    np.testing.assert_allclose(_logits(multi["b"], framework), EXPECTED["multi_numpy.b"], atol=2e-5, rtol=1e-5)
    multi.restore_from_path(V1 / "multi_numpy")  # in place, every file verified again


@pytest.mark.parametrize("where", ["data", "header"])
def test_v1_flipped_state_byte_is_detected_and_changes_nothing(framework, tmp_path, where):
    path = _copy(tmp_path, "ppo_numpy")
    state_file = path / "module_state.safetensors"
    _flip(state_file, state_file.stat().st_size - 3 if where == "data" else 20)
    with pytest.raises(CorruptCheckpointError, match="module_state.safetensors"):
        rlm.RLModule.from_checkpoint(path, framework=framework)
    module = rlm.RLModule.from_checkpoint(V1 / "multi_numpy" / "b", framework=framework)
    before = module.get_state()
    with pytest.raises(CorruptCheckpointError, match="module_state.safetensors"):
        module.restore_from_path(path)
    assert states_equal(module.get_state(), before)


def test_v1_flipped_metadata_byte_is_detected(framework, tmp_path):
    path = _copy(tmp_path, "ppo_numpy")
    meta = path / "metadata.json"
    meta.write_text(meta.read_text().replace('"fcnet_hiddens": [\n        4', '"fcnet_hiddens": [\n        5'))
    with pytest.raises(CorruptCheckpointError, match="metadata.json is corrupted"):
        rlm.RLModule.from_checkpoint(path, framework=framework)


def test_v1_flipped_byte_in_a_sub_module_is_detected(framework, tmp_path):
    path = _copy(tmp_path, "multi_numpy")
    state_file = path / "b" / "module_state.safetensors"
    _flip(state_file, state_file.stat().st_size - 1)
    with pytest.raises(CorruptCheckpointError, match="module_state.safetensors"):
        rlm.MultiRLModule.from_checkpoint(path, framework=framework)
    meta = path / "a" / "metadata.json"
    shutil.copy(V1 / "multi_numpy" / "b" / "module_state.safetensors", state_file)
    meta.write_text(meta.read_text().replace('"inference_only": false', '"inference_only": true'))
    with pytest.raises(CorruptCheckpointError, match="a/metadata.json"):
        rlm.MultiRLModule.from_checkpoint(path, framework=framework)


def test_v1_learner_checkpoint_verifies_and_its_module_restores(framework, tmp_path):
    assert read_metadata(V1 / "learner_torch")["num_updates"] == 3
    module = rlm.RLModule.from_checkpoint(V1 / "learner_torch" / "module", framework=framework)
    np.testing.assert_allclose(_logits(module, framework), EXPECTED["ppo_numpy"], atol=2e-5, rtol=1e-5)
    path = _copy(tmp_path, "learner_torch")
    _flip(path / "learner_state.safetensors", (path / "learner_state.safetensors").stat().st_size - 1)
    with pytest.raises(CorruptCheckpointError, match="learner_state.safetensors"):
        read_metadata(path)


def test_inspect_names_sha256_for_v1():
    info = describe(V1 / "ppo_numpy")
    assert info["format_version"] == 1 and info["digest"] == "sha256" and info["checksums_ok"]
    with pytest.raises(CheckpointError):
        describe(V1 / "missing")
