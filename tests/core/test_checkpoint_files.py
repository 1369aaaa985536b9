"""The checkpoint directory: format, integrity, atomic writes, class resolution."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core import checkpoint, rl_module
from rlmodule_core.checkpoint import CheckpointError
from rlmodule_core.testing.modules import TinyPolicy, WidePolicy

OBS = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
ACT = gym.spaces.Discrete(3)


def make(cls=TinyPolicy, **kw):
    return rlm.RLModuleSpec(module_class=cls, observation_space=OBS, action_space=ACT, framework="numpy", **kw).build()


def test_directory_layout_and_strict_json(tmp_path):
    path = make(model_config={"hidden": 8}).save_to_path(tmp_path / "c")
    files = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert files == ["metadata.json", "module_state.safetensors"]
    text = (tmp_path / "c" / "metadata.json").read_text()
    meta = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert meta["format"] == "rlmodule-core/checkpoint" and meta["format_version"] == 2 and meta["digest"] == "blake3"
    assert meta["ctor"]["observation_space"]["low"] == "-inf"
    assert set(meta["files"]) == {"module_state.safetensors"}
    assert "pickle" not in text and path == str((tmp_path / "c").absolute())
    assert not list(tmp_path.glob(".c.*"))  # no temporary directories left behind


def test_save_without_path_uses_a_new_directory():
    path = make().save_to_path()
    assert isinstance(rlm.RLModule.from_checkpoint(path), TinyPolicy)


def test_non_json_model_config_is_rejected_before_writing(tmp_path):
    module = make(model_config={"hidden": 8, "fn": object()})
    with pytest.raises(ValueError, match=r"model_config\['fn'\] is a object"):
        module.save_to_path(tmp_path / "c")
    assert not (tmp_path / "c").exists()
    with pytest.raises(ValueError, match=r"model_config\['x'\] is inf"):
        make(model_config={"x": float("inf")}).save_to_path(tmp_path / "d")


@pytest.mark.parametrize("victim", ["module_state.safetensors", "metadata.json"])
def test_altered_file_is_detected_and_named(tmp_path, victim):
    make().save_to_path(tmp_path / "c")
    target = tmp_path / "c" / victim
    data = bytearray(target.read_bytes())
    if victim == "metadata.json":
        meta = json.loads(data)
        meta["ctor"]["model_config"]["hidden"] = 99
        target.write_text(json.dumps(meta))
    else:
        data[-5] ^= 0xFF
        target.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=victim):
        rlm.RLModule.from_checkpoint(tmp_path / "c")


def test_truncated_and_missing_files_are_named(tmp_path):
    make().save_to_path(tmp_path / "c")
    state = tmp_path / "c" / "module_state.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="module_state.safetensors is corrupted or truncated"):
        rlm.RLModule.from_checkpoint(tmp_path / "c")
    state.unlink()
    with pytest.raises(CheckpointError, match="module_state.safetensors is missing"):
        make().restore_from_path(tmp_path / "c")


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        rlm.RLModule.from_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="has no metadata.json"):
        rlm.RLModule.from_checkpoint(tmp_path)


def test_interrupted_save_leaves_old_checkpoint_intact(tmp_path, monkeypatch):
    module = make()
    module.save_to_path(tmp_path / "c")
    old_state = module.get_state()
    module.set_state({k: v + 1 for k, v in old_state.items()})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(rl_module, "write_metadata", crash)
    with pytest.raises(KeyboardInterrupt):
        module.save_to_path(tmp_path / "c")
    restored = rlm.RLModule.from_checkpoint(tmp_path / "c")
    assert all(np.array_equal(restored.get_state()[k], v) for k, v in old_state.items())
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_killed_process_during_first_save_leaves_nothing_restorable(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, gymnasium as gym, numpy as np, rlmodule_core as rlm
        from rlmodule_core import rl_module
        from rlmodule_core.testing.modules import TinyPolicy
        m = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=gym.spaces.Box(-1, 1, (4,)),
                             action_space=gym.spaces.Discrete(2), framework="numpy").build()
        rl_module.write_metadata = lambda *a, **k: os._exit(9)   # dies mid-save
        m.save_to_path({str(tmp_path / "c")!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path)
    assert result.returncode == 9
    assert not (tmp_path / "c").exists()
    with pytest.raises(CheckpointError):
        rlm.RLModule.from_checkpoint(tmp_path / "c")


def test_refuses_to_overwrite_a_foreign_directory(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="Refusing to overwrite"):
        make().save_to_path(tmp_path / "docs")
    assert (tmp_path / "docs" / "notes.txt").read_text() == "keep me"


def test_wrong_class_and_override(tmp_path):
    make().save_to_path(tmp_path / "c")
    with pytest.raises(ValueError, match="not a WidePolicy"):
        WidePolicy.from_checkpoint(tmp_path / "c")
    assert isinstance(TinyPolicy.from_checkpoint(tmp_path / "c"), TinyPolicy)
    make(WidePolicy).save_to_path(tmp_path / "w")
    assert isinstance(TinyPolicy.from_checkpoint(tmp_path / "w"), WidePolicy)  # subclass is fine
    with pytest.raises(TypeError, match="unexpected arguments"):
        rlm.RLModule.from_checkpoint(tmp_path / "c", seed=1)


def test_unimportable_class_warns_then_needs_module_class(tmp_path):
    class Local(TinyPolicy):
        pass

    module = make(Local)
    with pytest.warns(UserWarning, match="inside a function"):
        module.save_to_path(tmp_path / "c")
    with pytest.raises(ValueError, match="module_class="):
        rlm.RLModule.from_checkpoint(tmp_path / "c")
    restored = rlm.RLModule.from_checkpoint(tmp_path / "c", module_class=Local)
    assert isinstance(restored, Local)


def test_multi_checkpoint_sub_directories_verify_themselves(tmp_path):
    m = rlm.MultiRLModule()
    m.add_module("a", make())
    m.save_to_path(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["kind"] == "multi_rl_module" and meta["module_ids"] == ["a"]
    assert set(meta["files"]) == {"a/metadata.json"}
    state = tmp_path / "m" / "a" / "module_state.safetensors"
    state.write_bytes(state.read_bytes()[:-8])
    with pytest.raises(CheckpointError, match="a/module_state.safetensors"):
        rlm.RLModule.from_checkpoint(tmp_path / "m")


def test_state_files_keep_scalars_and_dtypes(tmp_path):
    state = {"step": np.asarray(7, np.int32), "lr": np.asarray(0.5, np.float64),
             "w": np.arange(6, dtype=np.float32).reshape(2, 3).T}  # a non-contiguous view
    checkpoint.save_state_file(tmp_path / "s.safetensors", state)
    back = checkpoint.load_state_file(tmp_path / "s.safetensors")
    for key, value in state.items():
        assert back[key].shape == value.shape and back[key].dtype == value.dtype
        np.testing.assert_array_equal(back[key], value)


def test_native_module_refuses_another_framework(tmp_path):
    from numpy_test_modules import NativeNumpyPolicy

    module = rlm.RLModuleSpec(module_class=NativeNumpyPolicy, observation_space=OBS, action_space=ACT).build()
    assert module.framework == "numpy"
    module.save_to_path(tmp_path / "native")
    with pytest.raises(ValueError, match=r"native 'numpy' module .* cannot be restored on 'jax'.*neutral RLModule base"):
        rlm.RLModule.from_checkpoint(tmp_path / "native", framework="flax")
    assert isinstance(rlm.RLModule.from_checkpoint(tmp_path / "native"), NativeNumpyPolicy)


def test_from_checkpoint_restores_every_weight_and_leaves_later_builds_random(tmp_path):
    # from_checkpoint builds without drawing random weights (they are all overwritten).
    module = make()
    restored = rlm.RLModule.from_checkpoint(module.save_to_path(tmp_path / "c"))
    assert all(np.array_equal(restored.get_state()[k], v) for k, v in module.get_state().items())
    assert np.abs(make().get_state()["pi.kernel"]).sum() > 0
