"""Strict values, all-or-nothing MultiRLModule restores and untrusted classes, on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import blake3
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core.checkpoint import CheckpointError
from rlmodule_core.checkpoint.metadata import canonical
from rlmodule_core.testing.helpers import build, states_equal
from rlmodule_core.testing.modules import QWithTarget, TinyPolicy


@pytest.mark.parametrize("kind", ["complex", "string", "object", "bool"])
def test_set_state_refuses_non_real_values_and_changes_nothing(framework, kind):
    module = build(TinyPolicy, framework)
    before = module.get_state()
    state = {k: v + 1.0 for k, v in before.items()}
    convert = {
        "complex": lambda a: a.astype(np.complex128),
        "string": lambda a: a.astype(str),
        "object": lambda a: a.astype(object),
        "bool": lambda a: a > 0,
    }[kind]
    state["vf.kernel"] = convert(state["vf.kernel"])
    with pytest.raises(ValueError, match="vf.kernel: expected real numbers"):
        module.set_state(state)
    assert states_equal(module.get_state(), before)


def test_float64_fills_float32_parameters(framework):
    module = build(TinyPolicy, framework)
    state = {k: v.astype(np.float64) * 0.5 for k, v in module.get_state().items()}
    module.set_state(state)
    got = module.get_state()
    assert all(v.dtype == np.float32 for v in got.values())
    assert states_equal(got, {k: v.astype(np.float32) for k, v in state.items()})


def test_multi_set_state_is_all_or_nothing_with_targets(framework):
    source = build(QWithTarget, framework)
    source.make_target_networks()
    multi = rlm.MultiRLModule()
    multi.add_module("a", build(QWithTarget, framework))
    multi.add_module("b", build(QWithTarget, framework))
    before = multi.get_state()
    bad = dict(source.get_state())
    bad["qf.layers.1.bias"] = np.zeros(7, np.float32)
    with pytest.raises(ValueError, match="module 'b'"):
        multi.set_state({"a": source.get_state(), "b": bad})
    after = multi.get_state()
    assert not any("target" in k for sub in after.values() for k in sub)
    assert all(states_equal(after[mid], before[mid]) for mid in before)


def test_multi_restore_is_all_or_nothing_with_targets(framework, tmp_path):
    saved = rlm.MultiRLModule()
    for module_id in ("a", "b"):
        module = build(QWithTarget, framework)
        module.make_target_networks()
        saved.add_module(module_id, module)
    path = Path(saved.save_to_path(tmp_path / "m"))
    # b's state no longer fits (a wrong shape), with every checksum recomputed.
    sub = path / "b"
    from rlmodule_core.checkpoint import load_state_file, save_state_file

    state = dict(load_state_file(sub / "module_state.safetensors"))
    state["qf.layers.0.bias"] = np.zeros(3, np.float32)
    save_state_file(sub / "module_state.safetensors", state)
    for directory in (sub, path):
        metadata = json.loads((directory / "metadata.json").read_text())
        for name in metadata["files"]:
            metadata["files"][name] = blake3.blake3((directory / name).read_bytes()).hexdigest()
        metadata["metadata_digest"] = blake3.blake3(canonical(metadata)).hexdigest()
        (directory / "metadata.json").write_text(json.dumps(metadata))
    target = rlm.MultiRLModule()
    target.add_module("a", build(QWithTarget, framework))
    target.add_module("b", build(QWithTarget, framework))
    before = target.get_state()
    with pytest.raises(ValueError, match="module 'b'"):
        target.restore_from_path(path)
    after = target.get_state()
    assert not any("target" in k for sub_state in after.values() for k in sub_state)
    assert all(states_equal(after[mid], before[mid]) for mid in before)
    with pytest.raises(CheckpointError, match="metadata.json"):
        rlm.MultiRLModule.from_checkpoint(path)


def test_untrusted_class_is_refused_on_every_framework(framework, tmp_path):
    path = Path(build(TinyPolicy, framework).save_to_path(tmp_path / "c"))
    metadata = json.loads((path / "metadata.json").read_text())
    metadata["class"] = "not_imported_anywhere.policy:Policy"
    metadata["metadata_digest"] = blake3.blake3(canonical(metadata)).hexdigest()
    (path / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(CheckpointError, match="not_imported_anywhere.policy:Policy.*trust_code=True"):
        rlm.RLModule.from_checkpoint(path)
    restored = rlm.RLModule.from_checkpoint(path, module_class=TinyPolicy)
    assert restored.framework == framework


@pytest.mark.parametrize("where", ["data", "header"])
def test_restore_of_a_file_with_one_flipped_byte_changes_nothing(framework, tmp_path, where):
    saved = build(TinyPolicy, framework)
    saved.set_state({k: v + 1.0 for k, v in saved.get_state().items()})
    path = Path(saved.save_to_path(tmp_path / "c"))
    state_file = path / "module_state.safetensors"
    data = bytearray(state_file.read_bytes())
    data[len(data) // 2 if where == "data" else 20] ^= 0x01
    state_file.write_bytes(bytes(data))
    target = build(TinyPolicy, framework)
    before = target.get_state()
    with pytest.raises(CheckpointError, match="module_state.safetensors"):
        target.restore_from_path(path)
    assert states_equal(target.get_state(), before)
    with pytest.raises(CheckpointError, match="module_state.safetensors"):
        rlm.RLModule.from_checkpoint(path)


def test_restored_module_does_not_share_memory_with_the_file(framework, tmp_path):
    saved = build(TinyPolicy, framework)
    saved.set_state({k: v + 1.0 for k, v in saved.get_state().items()})
    path = Path(saved.save_to_path(tmp_path / "c"))
    expected = saved.get_state()
    target = build(TinyPolicy, framework)
    target.restore_from_path(path)
    built = rlm.RLModule.from_checkpoint(path)
    # Rewritten in place (same inode): a module reading the file's pages would change.
    state_file = path / "module_state.safetensors"
    size = state_file.stat().st_size
    with open(state_file, "r+b") as f:
        f.write(b"\xff" * size)
    assert states_equal(target.get_state(), expected)
    assert states_equal(built.get_state(), expected)


def test_streamed_save_writes_the_file_of_the_whole_state(framework, tmp_path):
    from rlmodule_core.checkpoint import save_state_file

    module = build(TinyPolicy, framework)
    path = Path(module.save_to_path(tmp_path / "c"))
    save_state_file(tmp_path / "whole.safetensors", module.get_state())
    assert (path / "module_state.safetensors").read_bytes() == (tmp_path / "whole.safetensors").read_bytes()
