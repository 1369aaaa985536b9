"""A learner checkpoint of format version 1 (sha256) restores into a torch learner, verified."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core.checkpoint import CorruptCheckpointError
from rlmodule_core.testing import test_checkpoint_versions as versions
from rlmodule_core.train.learner import Learner

V1 = versions.V1 / "learner_torch"


def _learner() -> Learner:
    return Learner(rlm.RLModule.from_checkpoint(versions.V1 / "multi_numpy" / "b", framework="torch"))


def test_v1_learner_checkpoint_restores_module_optimizer_and_counters():
    learner = _learner()
    extra = learner.restore_from_path(V1)
    assert extra == {"iteration": 3}
    assert learner.num_updates == 3
    assert learner.learning_rate == pytest.approx(0.15078802, rel=1e-6)
    np.testing.assert_allclose(versions._logits(learner.module, "torch"), versions.EXPECTED["ppo_numpy"],
                               atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["learner_state.safetensors", "module/module_state.safetensors", "module/metadata.json"])
def test_v1_learner_checkpoint_with_a_flipped_byte_is_refused(tmp_path, name):
    path = Path(shutil.copytree(V1, tmp_path / "ckpt"))
    file = path / name
    data = bytearray(file.read_bytes())
    data[len(data) - 3] ^= 0x01  # inside the tensor data, or the metadata's closing lines
    file.write_bytes(bytes(data))
    learner = _learner()
    with pytest.raises(CorruptCheckpointError):
        learner.restore_from_path(path)
    assert learner.num_updates == 0
