"""RLModule construction and dispatch rules that do not depend on a backend."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core import Columns, RLModule
from rlmodule_core.testing.modules import TinyPolicy

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)


def test_public_forwards_are_final():
    with pytest.raises(TypeError, match="overrides forward_inference, which are final"):

        class Bad(RLModule):
            def forward_inference(self, batch, **kwargs):
                return {}


def test_setup_runs_exactly_once():
    calls = []

    class Counting(TinyPolicy):
        def setup(self):
            calls.append(1)
            super().setup()

    rlm.RLModuleSpec(module_class=Counting, observation_space=OBS, action_space=ACT, framework="numpy").build()
    assert calls == [1]
    calls.clear()
    rlm.get_backend("numpy").bind(Counting)(observation_space=OBS, action_space=ACT)
    assert calls == [1]


def test_direct_construction_of_a_neutral_class_runs_setup_once(monkeypatch):
    monkeypatch.setenv("RLMODULE_FRAMEWORK", "numpy")
    calls = []

    class Counting(TinyPolicy):
        def setup(self):
            calls.append(1)
            super().setup()

    module = Counting(observation_space=OBS, action_space=ACT)
    assert calls == [1] and isinstance(module, Counting) and module.framework == "numpy"


def test_missing_forward_says_what_to_implement():
    class Empty(RLModule):
        pass

    module = rlm.RLModuleSpec(module_class=Empty, observation_space=OBS, action_space=ACT, framework="numpy").build()
    with pytest.raises(NotImplementedError, match="must implement _forward"):
        module.forward_inference({Columns.OBS: np.zeros((1, 4), np.float32)})


def test_constructor_rejects_unknown_kwargs_and_bad_spaces():
    backend_cls = rlm.get_backend("numpy").bind(TinyPolicy)
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        backend_cls(observation_space=OBS, action_space=ACT, catalog_class=None)
    with pytest.raises(ValueError, match="observation_space must be a gymnasium.spaces.Space"):
        backend_cls(observation_space=(4,), action_space=ACT)


def test_ctor_args_and_initial_state():
    module = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT, framework="numpy", model_config={"hidden": 4}).build()
    args, kwargs = module.get_ctor_args_and_kwargs()
    assert args == () and kwargs["model_config"] == {"hidden": 4} and kwargs["action_space"] == ACT
    assert module.get_initial_state() == {} and not module.is_stateful()


def test_numpy_inputs_are_cast_to_float32_once():
    module = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT, framework="numpy").build()
    out = module.forward_inference({Columns.OBS: np.zeros((2, 4))})  # float64 in
    assert out[Columns.ACTION_DIST_INPUTS].dtype == np.float32
    out = module.forward_inference({Columns.OBS: [[0.0, 0.0, 0.0, 0.0]]})  # a list in
    assert out[Columns.ACTION_DIST_INPUTS].shape == (1, 3)
