"""MultiRLModule: the dict API, IDs, runtime add/remove, partial state."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core.testing.modules import TinyPolicy, WidePolicy

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)


def make(cls=TinyPolicy, **kw):
    return rlm.RLModuleSpec(module_class=cls, observation_space=OBS, action_space=ACT, framework="numpy", **kw).build()


def multi(**modules):
    m = rlm.MultiRLModule()
    for mid, module in modules.items():
        m.add_module(mid, module)
    return m


def test_dict_api():
    a, b = make(), make()
    m = multi(a=a, b=b)
    assert m["a"] is a and m.get("zz") is None and "b" in m and len(m) == 2
    assert list(m.keys()) == ["a", "b"] and list(m.values()) == [a, b] and dict(m.items()) == {"a": a, "b": b}
    assert m.foreach_module(lambda mid, mod: mid) == ["a", "b"]
    assert m.foreach_module(lambda mid, mod: mod is a, return_dict=True) == {"a": True, "b": False}
    with pytest.raises(KeyError, match=r"available module IDs: \['a', 'b'\]"):
        m["c"]


def test_as_multi_rl_module_wraps_the_same_object():
    module = make()
    wrapped = module.as_multi_rl_module()
    assert wrapped[rlm.DEFAULT_MODULE_ID] is module
    assert wrapped.as_multi_rl_module() is wrapped


@pytest.mark.parametrize("bad", ["", "a/b", "../x", ".hidden", "-x", "x" * 129, 7, "a b"])
def test_invalid_module_ids_are_rejected(bad):
    with pytest.raises(ValueError, match="Invalid module ID.*Try"):
        multi().add_module(bad, make())


def test_add_remove_override():
    m = multi(a=make())
    with pytest.raises(ValueError, match="already exists.*override=True"):
        m.add_module("a", make())
    replacement = make()
    m.add_module("a", replacement, override=True)
    assert m["a"] is replacement
    m.remove_module("a")
    assert "a" not in m
    with pytest.raises(KeyError):
        m.remove_module("a")
    m.remove_module("a", raise_err_if_not_found=False)
    with pytest.raises(ValueError, match="single RLModule"):
        m.add_module("x", multi())


def test_partial_set_state_updates_only_named_modules():
    m = multi(a=make(), b=make())
    before_b = m["b"].get_state()
    donor = make()
    m.set_state({"a": donor.get_state()})
    assert all(np.array_equal(m["a"].get_state()[k], v) for k, v in donor.get_state().items())
    assert all(np.array_equal(m["b"].get_state()[k], v) for k, v in before_b.items())


def test_set_state_unknown_id_and_atomicity():
    m = multi(a=make(), b=make())
    before = m.get_state()
    with pytest.raises(KeyError, match="available module IDs"):
        m.set_state({"zz": {}})
    bad_b = dict(before["b"])
    del bad_b["pi.kernel"]
    good_a = {k: v + 1 for k, v in before["a"].items()}
    with pytest.raises(ValueError, match="module 'b'"):
        m.set_state({"a": good_a, "b": bad_b})
    after = m.get_state()
    assert all(np.array_equal(after["a"][k], v) for k, v in before["a"].items())  # 'a' untouched


def test_get_state_components_by_module_id_and_prefix():
    m = multi(a=make(), b=make())
    assert set(m.get_state("a")) == {"a"}
    sub = m.get_state(["b.pi"])
    assert set(sub["b"]) == {"pi.kernel", "pi.bias"}
    assert set(m.get_state(not_components="a")) == {"b"}
    assert "vf.kernel" not in m.get_state(inference_only=True)["a"]


def test_get_state_out_is_given_per_module_id():
    m = multi(a=make(), b=make())
    first = m.get_state()
    again = m.get_state(out={"a": first["a"]})
    assert again["a"]["pi.kernel"] is first["a"]["pi.kernel"]
    assert again["b"]["pi.kernel"] is not first["b"]["pi.kernel"]
    assert all(np.array_equal(again["b"][k], v) for k, v in first["b"].items())


def test_forward_train_on_all_inference_only_modules_raises():
    m = multi(a=make(inference_only=True))
    with pytest.raises(RuntimeError, match="inference-only"):
        m.forward_train({"a": {"obs": np.zeros((1, 4), np.float32)}})


def test_runtime_added_module_with_other_architecture_round_trips(tmp_path):
    m = multi(a=make(), b=make())
    m.add_module("wide", make(WidePolicy))
    m.remove_module("b")
    m.save_to_path(tmp_path / "ckpt")
    restored = rlm.RLModule.from_checkpoint(tmp_path / "ckpt")
    assert isinstance(restored, rlm.MultiRLModule) and sorted(restored.keys()) == ["a", "wide"]
    assert isinstance(restored["wide"], WidePolicy)
    assert restored["wide"].get_state()["pi.kernel"].shape == (32, 3)
    for mid in ("a", "wide"):
        state, want = restored[mid].get_state(), m[mid].get_state()
        assert all(np.array_equal(state[k], want[k]) for k in want)
    alone = rlm.RLModule.from_checkpoint(tmp_path / "ckpt" / "wide")
    assert isinstance(alone, WidePolicy)


def test_restore_one_module_of_a_multi_checkpoint(tmp_path):
    m = multi(a=make(), b=make())
    m.save_to_path(tmp_path / "ckpt")
    other = multi(a=make(), b=make())
    before_b = other["b"].get_state()
    other.restore_from_path(tmp_path / "ckpt", component="a")
    assert all(np.array_equal(other["a"].get_state()[k], v) for k, v in m["a"].get_state().items())
    assert all(np.array_equal(other["b"].get_state()[k], v) for k, v in before_b.items())
    mismatched = multi(a=make())
    with pytest.raises(ValueError, match="holds modules"):
        mismatched.restore_from_path(tmp_path / "ckpt")
