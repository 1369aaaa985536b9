"""Checkpoint round trips, on every backend (cross-backend pairs: tests/portability)."""

from __future__ import annotations

import json

import pytest

import rlmodule_core as rlm
from rlmodule_core.testing.helpers import (
    ACT,
    EVERY_OBS,
    OBS,
    assert_tree_close,
    batch,
    build,
    every_layer_batch,
    numpy_tree,
    states_equal,
)
from rlmodule_core.testing.modules import EveryLayer, TinyPolicy


def test_save_and_from_checkpoint_round_trip(framework, tmp_path):
    module = build(TinyPolicy, framework)
    path = module.save_to_path(tmp_path / "ckpt")
    restored = rlm.RLModule.from_checkpoint(path)
    assert type(restored) is type(module) and restored.framework == framework
    assert states_equal(restored.get_state(), module.get_state())
    assert_tree_close(
        numpy_tree(restored.forward_inference(batch()), framework),
        numpy_tree(module.forward_inference(batch()), framework),
    )
    metadata = json.loads((tmp_path / "ckpt" / "metadata.json").read_text())
    assert metadata["framework"] == framework
    assert metadata["class"] == "rlmodule_core.testing.modules:TinyPolicy"


def test_restore_from_path_loads_weights_in_place(framework, tmp_path):
    a, b = build(TinyPolicy, framework), build(TinyPolicy, framework)
    a.save_to_path(tmp_path / "a")
    b.restore_from_path(tmp_path / "a")
    assert states_equal(a.get_state(), b.get_state())


def test_restore_one_component(framework, tmp_path):
    a, b = build(TinyPolicy, framework), build(TinyPolicy, framework)
    before = b.get_state()
    a.save_to_path(tmp_path / "a")
    b.restore_from_path(tmp_path / "a", component="pi")
    after = b.get_state()
    assert states_equal(b.get_state("pi"), a.get_state("pi"))
    assert all((after[k] == before[k]).all() for k in before if not k.startswith("pi."))


def test_checkpoint_restores_on_numpy(framework, tmp_path):
    module = build(EveryLayer, framework, obs=EVERY_OBS)
    module.save_to_path(tmp_path / "c")
    on_numpy = rlm.RLModule.from_checkpoint(tmp_path / "c", framework="numpy")
    assert on_numpy.framework == "numpy"
    b = every_layer_batch()
    assert_tree_close(
        numpy_tree(on_numpy.forward_inference(b), "numpy"),
        numpy_tree(module.forward_inference(b), framework),
        atol=2e-5,
    )


def test_numpy_checkpoint_restores_here(framework, tmp_path):
    reference = build(EveryLayer, "numpy", obs=EVERY_OBS)
    reference.save_to_path(tmp_path / "n")
    module = rlm.RLModule.from_checkpoint(tmp_path / "n", framework=framework)
    assert module.framework == framework
    b = every_layer_batch()
    assert_tree_close(
        numpy_tree(module.forward_inference(b), framework),
        numpy_tree(reference.forward_inference(b), "numpy"),
        atol=2e-5,
    )


def test_inference_only_restore_of_a_full_checkpoint(framework, tmp_path):
    full = build(TinyPolicy, framework)
    full.save_to_path(tmp_path / "f")
    slim = rlm.RLModule.from_checkpoint(tmp_path / "f", inference_only=True)
    assert slim.inference_only and not hasattr(slim, "vf")
    assert_tree_close(
        numpy_tree(slim.forward_inference(batch()), framework),
        numpy_tree(full.forward_inference(batch()), framework),
    )


def test_multi_module_checkpoint_round_trip(framework, tmp_path):
    spec = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT, framework=framework)
    multi = rlm.MultiRLModuleSpec(rl_module_specs={"a": spec, "b": spec}).build()
    multi.save_to_path(tmp_path / "m")
    restored = rlm.MultiRLModule.from_checkpoint(tmp_path / "m")
    assert sorted(restored.keys()) == ["a", "b"]
    for mid in ("a", "b"):
        assert states_equal(restored[mid].get_state(), multi[mid].get_state())


@pytest.mark.parametrize("cls", [TinyPolicy])
def test_from_checkpoint_of_the_wrong_class_raises(framework, tmp_path, cls):
    build(cls, framework).save_to_path(tmp_path / "w")
    with pytest.raises(ValueError, match="not a MultiRLModule"):
        rlm.MultiRLModule.from_checkpoint(tmp_path / "w")
