"""RLModuleSpec / MultiRLModuleSpec semantics (DESIGN.md section 12)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core import DefaultModelConfig, MultiRLModuleSpec, RLModuleSpec
from rlmodule_core.testing.modules import TinyPolicy, WidePolicy

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)


def spec(**kw) -> RLModuleSpec:
    base = dict(module_class=TinyPolicy, observation_space=OBS, action_space=ACT, framework="numpy")
    base.update(kw)
    return RLModuleSpec(**base)


def test_from_module_of_build_equals_spec():
    s = spec(model_config={"hidden": 8, "seed": 1})
    assert RLModuleSpec.from_module(s.build()) == s


def test_to_dict_is_json_and_round_trips():
    s = spec(model_config=DefaultModelConfig(fcnet_hiddens=(32, 32)))
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert d["module_class"] == "rlmodule_core.testing.modules:TinyPolicy"
    assert d["model_config"]["fcnet_hiddens"] == [32, 32]  # tuples become lists
    back = RLModuleSpec.from_dict(d)
    assert back.module_class is TinyPolicy and back.observation_space == OBS
    assert back.model_config == d["model_config"]


def test_model_config_reaches_the_module_as_a_dict():
    module = spec(model_config=DefaultModelConfig(fcnet_hiddens=[8])).build()
    assert isinstance(module.model_config, dict)
    assert module.model_config["fcnet_hiddens"] == [8]


def test_update_with_override_replaces_non_none_fields():
    a = spec(model_config={"hidden": 8}, framework=None)
    b = RLModuleSpec(action_space=gym.spaces.Discrete(5), model_config={"seed": 2})
    a.update(b)
    assert a.action_space == gym.spaces.Discrete(5)
    assert a.model_config == {"seed": 2}  # replaced, not merged
    assert a.observation_space == OBS and a.module_class is TinyPolicy


def test_update_without_override_fills_only_none_fields():
    a = RLModuleSpec(action_space=ACT)
    a.update(RLModuleSpec(action_space=gym.spaces.Discrete(9), observation_space=OBS, framework="numpy"), override=False)
    assert a.action_space == ACT and a.observation_space == OBS and a.framework == "numpy"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(module_class=None), "module_class is None"),
        (dict(module_class=dict), "must be a subclass of rlmodule_core.RLModule"),
        (dict(observation_space=None), r"observation_space is None.*Pass observation_space="),
        (dict(action_space=[0, 1]), r"action_space must be a gymnasium.spaces.Space; received list"),
        (dict(inference_only=True, learner_only=True), "at most one"),
        (dict(framework="caffe"), r"Unknown framework 'caffe'. Expected one of"),
        (dict(model_config=42), "model_config must be a dict or a DefaultModelConfig"),
        (dict(model_config={"seed": "x"}), r"model_config\['seed'\] must be an int"),
    ],
)
def test_build_rejects_bad_specs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spec(**kwargs).build()


def test_learner_only_is_carried_through():
    assert spec(learner_only=True).build().learner_only


def test_framework_contradicting_a_backend_class_raises():
    from rlmodule_numpy import NumpyRLModule

    class Native(NumpyRLModule):
        pass

    with pytest.raises(ValueError, match="contradicts module_class"):
        spec(module_class=Native, framework="torch").build()


def test_single_spec_serves_every_module_id():
    multi_spec = MultiRLModuleSpec(rl_module_specs=spec())
    assert isinstance(multi_spec.build(module_id="anything"), TinyPolicy)
    multi = multi_spec.build()
    assert list(multi.keys()) == [rlm.DEFAULT_MODULE_ID]


def test_global_inference_only_propagates():
    multi = MultiRLModuleSpec(inference_only=True, rl_module_specs={"a": spec(), "b": spec()}).build()
    assert all(m.inference_only for m in multi.values())
    assert MultiRLModuleSpec(inference_only=True, rl_module_specs=spec()).build(module_id="x").inference_only


def test_multi_spec_build_unknown_id_raises_key_error():
    with pytest.raises(KeyError, match="available"):
        MultiRLModuleSpec(rl_module_specs={"a": spec()}).build(module_id="b")


def test_multi_spec_add_remove_update_and_dict_round_trip():
    ms = MultiRLModuleSpec(rl_module_specs={"a": spec()})
    ms.add_modules({"b": spec(module_class=WidePolicy)})
    assert set(ms.rl_module_specs) == {"a", "b"}
    ms.remove_modules("a")
    assert set(ms.rl_module_specs) == {"b"}
    with pytest.raises(KeyError):
        ms.remove_modules("zzz")
    ms.update(MultiRLModuleSpec(rl_module_specs={"c": spec()}, inference_only=True))
    assert set(ms.rl_module_specs) == {"b", "c"} and ms.inference_only
    back = MultiRLModuleSpec.from_dict(json.loads(json.dumps(ms.to_dict())))
    assert back == ms
    multi = ms.build()
    assert MultiRLModuleSpec.from_module(multi).rl_module_specs["b"].module_class is WidePolicy


def _snapshot(s: RLModuleSpec) -> dict:
    return json.loads(json.dumps(s.to_dict()))


def test_multi_spec_update_default_adds_only_missing_ids_as_rllib():
    mine, theirs, extra = spec(model_config={"hidden": 8}), spec(module_class=WidePolicy), spec()
    ms = MultiRLModuleSpec(rl_module_specs={"a": mine})
    other = MultiRLModuleSpec(rl_module_specs={"a": theirs, "b": extra})
    before = {k: _snapshot(v) for k, v in other.rl_module_specs.items()}
    ms.update(other)  # override=False by default, as in RLlib
    assert ms.rl_module_specs["a"] is mine and mine.module_class is TinyPolicy
    assert mine.model_config == {"hidden": 8}
    assert ms.rl_module_specs["b"] == extra and ms.rl_module_specs["b"] is not extra
    assert {k: _snapshot(v) for k, v in other.rl_module_specs.items()} == before
    # Changing the merged spec later does not reach the argument's objects either.
    ms.rl_module_specs["b"].model_config = {"hidden": 99}
    assert extra.model_config is None


def test_multi_spec_update_override_replaces_each_named_sub_spec():
    mine_a, mine_c = spec(model_config={"hidden": 8}), spec(model_config={"hidden": 4})
    theirs = spec(module_class=WidePolicy)
    ms = MultiRLModuleSpec(rl_module_specs={"a": mine_a, "c": mine_c})
    ms.update(MultiRLModuleSpec(rl_module_specs={"a": theirs}), override=True)
    replaced = ms.rl_module_specs["a"]
    # Replaced whole, not merged field by field: model_config is theirs (None), not ours.
    assert replaced == theirs and replaced.model_config is None and replaced is not theirs
    assert ms.rl_module_specs["c"] is mine_c
    assert mine_a.module_class is TinyPolicy and mine_a.model_config == {"hidden": 8}
    assert theirs.module_class is WidePolicy and theirs.model_config is None


def test_multi_spec_add_modules_merge_leaves_the_callers_specs_alone():
    mine = spec(model_config=None, inference_only=None)
    ms = MultiRLModuleSpec(rl_module_specs={"a": mine})
    ms.add_modules({"a": spec(model_config={"hidden": 8})}, override=False)
    assert ms.rl_module_specs["a"].model_config == {"hidden": 8}
    assert mine.model_config is None


def test_multi_spec_update_rejects_a_single_spec():
    with pytest.raises(ValueError, match="as_multi_rl_module_spec"):
        MultiRLModuleSpec().update(spec())


def test_as_multi_rl_module_spec():
    ms = spec().as_multi_rl_module_spec()
    assert list(ms.rl_module_specs) == [rlm.DEFAULT_MODULE_ID]
