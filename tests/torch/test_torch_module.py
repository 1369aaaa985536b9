"""TorchRLModule as a torch user sees it: nn.Module behaviour, modes, inputs, native layers."""

from __future__ import annotations

import copy
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from rlmodule_torch import TorchRLModule  # noqa: E402
from rlmodule_torch import nn as tnn  # noqa: E402

import rlmodule_core as rlm  # noqa: E402
from rlmodule_core import Columns  # noqa: E402
from rlmodule_core.backend.scope import build_scope  # noqa: E402
from rlmodule_core.modules import DefaultPPORLModule  # noqa: E402
from rlmodule_core.testing.helpers import ACT, EVERY_OBS, OBS, batch, build, every_layer_batch  # noqa: E402
from rlmodule_core.testing.modules import EveryLayer, TinyPolicy  # noqa: E402


class NativePolicy(TorchRLModule):
    """A native module: torch.nn layers, a BatchNorm (buffers), dropout, a shared layer."""

    def setup(self):
        n_in = self.observation_space.shape[0]
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_in, 8), torch.nn.BatchNorm1d(8), torch.nn.Tanh(), torch.nn.Dropout(0.5)
        )
        self.head = torch.nn.Linear(8, self.action_space.n)
        self.alias = self.head  # the same layer under a second name: listed once
        self.log_std = torch.nn.Parameter(torch.zeros(2))
        self.register_buffer("scratch", torch.zeros(3), persistent=False)
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.head(self.body(batch[Columns.OBS]))}


def native(**kwargs):
    return rlm.RLModuleSpec(
        module_class=NativePolicy, observation_space=OBS, action_space=ACT, **kwargs
    ).build()


# ---- an nn.Module like any other --------------------------------------------------------------


def test_neutral_module_is_a_plain_nn_module():
    module = build(TinyPolicy, "torch")
    assert isinstance(module, torch.nn.Module) and isinstance(module.encoder, torch.nn.Module)
    assert all(p.requires_grad for p in module.parameters())
    assert module.to("cpu") is module
    # Dense is stored like torch.nn.Linear: its state_dict loads into one.
    torch_state = module.state_dict()
    assert list(torch_state)[:2] == ["encoder.net.layers.0.weight", "encoder.net.layers.0.bias"]
    linear = torch.nn.Linear(16, ACT.n)
    linear.load_state_dict({"weight": torch_state["pi.weight"], "bias": torch_state["pi.bias"]})
    x = torch.randn(3, 16)
    assert torch.allclose(linear(x), module.pi(x))
    # The canonical state is the same tensors, transposed to (in, out).
    state = module.get_state()
    assert len(state) == len(torch_state)
    np.testing.assert_array_equal(state["pi.kernel"], torch_state["pi.weight"].numpy().T)
    assert state["pi.kernel"].flags.c_contiguous


def test_load_state_dict_and_set_state_are_interchangeable():
    a, b = build(TinyPolicy, "torch"), build(TinyPolicy, "torch")
    b.load_state_dict(a.state_dict())
    assert all(np.array_equal(v, b.get_state()[k]) for k, v in a.get_state().items())


def test_optimizer_step_changes_state_and_outputs():
    module = build(TinyPolicy, "torch", model_config={"seed": 0})
    before = module.get_state()
    out_before = module.forward_inference(batch(4))[Columns.ACTION_DIST_INPUTS]
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    out = module.forward_train(batch(4))
    loss = out[Columns.ACTION_DIST_INPUTS].square().mean() + module.compute_values(batch(4)).square().mean()
    loss.backward()
    optimizer.step()
    after = module.get_state()
    assert all(not np.array_equal(before[k], after[k]) for k in before)
    assert not torch.allclose(module.forward_inference(batch(4))[Columns.ACTION_DIST_INPUTS], out_before)


def test_float64_module_takes_float64_inputs():
    module = build(TinyPolicy, "torch").to(torch.float64)
    out = module.forward_inference(batch(3))[Columns.ACTION_DIST_INPUTS]  # float32 numpy in
    assert out.dtype == torch.float64
    state = module.get_state()
    assert state["pi.kernel"].dtype == np.float64
    module.set_state({k: v.astype(np.float32) for k, v in state.items()})  # cast on the way in
    assert module.get_state()["pi.kernel"].dtype == np.float64
    module.float()
    assert module.forward_inference(batch(3))[Columns.ACTION_DIST_INPUTS].dtype == torch.float32


def test_calling_the_module_runs_forward_train():
    module = build(TinyPolicy, "torch")
    out = module(batch(2))
    assert set(out) == {Columns.ACTION_DIST_INPUTS, Columns.EMBEDDINGS}
    assert out[Columns.ACTION_DIST_INPUTS].requires_grad and module.training


# ---- modes and gradients ----------------------------------------------------------------------


def test_modes_switch_only_when_they_change(monkeypatch):
    module = build(TinyPolicy, "torch")
    calls = []
    original = torch.nn.Module.train

    def counting_train(self, mode=True):
        if self is module:  # train() recurses into the children; count the root only
            calls.append(mode)
        return original(self, mode)

    monkeypatch.setattr(torch.nn.Module, "train", counting_train)
    for _ in range(3):
        module.forward_inference(batch(2))
        module.forward_exploration(batch(2))
    assert calls == [False]  # one switch for a run of inference calls
    assert not any(m.training for m in module.modules())
    module.forward_train(batch(2))
    module.forward_train(batch(2))
    assert calls == [False, True] and all(m.training for m in module.modules())


def test_inference_has_no_graph_and_train_has_one():
    module = build(TinyPolicy, "torch")
    assert not module.forward_inference(batch(2))[Columns.ACTION_DIST_INPUTS].requires_grad
    assert not module.forward_exploration(batch(2))[Columns.ACTION_DIST_INPUTS].requires_grad
    assert module.forward_train(batch(2))[Columns.ACTION_DIST_INPUTS].requires_grad
    assert torch.is_grad_enabled()  # restored after inference
    with torch.no_grad():  # the caller's grad mode is respected in train
        assert not module.forward_train(batch(2))[Columns.ACTION_DIST_INPUTS].requires_grad


class Raises(TorchRLModule):
    def _forward(self, batch, **kwargs):
        assert not torch.is_grad_enabled()
        raise KeyError("boom")


def test_grad_mode_is_restored_when_a_forward_raises():
    module = rlm.RLModuleSpec(module_class=Raises, observation_space=OBS, action_space=ACT).build()
    with pytest.raises(KeyError, match="boom"):
        module.forward_inference(batch(1))
    assert torch.is_grad_enabled()
    with torch.no_grad(), pytest.raises(KeyError):
        module.forward_exploration(batch(1))
    assert torch.is_grad_enabled()


def test_dropout_and_batch_norm_follow_the_mode():
    module = native()
    b = batch(64, seed=1)
    first = module.forward_inference(b)[Columns.ACTION_DIST_INPUTS]
    assert torch.equal(first, module.forward_inference(b)[Columns.ACTION_DIST_INPUTS])  # eval: no dropout
    running_before = module.body[1].running_mean.clone()
    module.forward_train(b)
    assert not torch.equal(module.body[1].running_mean, running_before)  # train: statistics update
    train_a = module.forward_train(b)[Columns.ACTION_DIST_INPUTS]
    train_b = module.forward_train(b)[Columns.ACTION_DIST_INPUTS]
    assert not torch.equal(train_a, train_b)  # dropout is on


# ---- inputs ---------------------------------------------------------------------------------------


class Echo(TorchRLModule):
    def setup(self):
        self.w = torch.nn.Parameter(torch.zeros(1))

    def _forward(self, batch, **kwargs):
        return {"batch": batch}


def echo():
    return rlm.RLModuleSpec(module_class=Echo, observation_space=OBS, action_space=ACT).build()


def test_tensors_pass_untouched_and_numpy_is_converted_once():
    module = echo()
    x = torch.zeros(2, 4)
    given = {Columns.OBS: x}
    assert module.forward_inference(given)["batch"] is given  # no per-call dict copy
    obs64 = np.ones((2, 4))
    ints = np.arange(2)
    given = {Columns.OBS: obs64, "ints": ints, "nested": {"h": np.zeros((2, 3), np.float32)},
             "seq": (np.ones(2, np.float32), 1.5), "flag": True, "name": "x", "none": None}
    out = module.forward_train(given)["batch"]
    assert out[Columns.OBS].dtype == torch.float32 and out["ints"].dtype == torch.int64
    assert isinstance(out["nested"]["h"], torch.Tensor) and isinstance(out["seq"], tuple)
    assert isinstance(out["seq"][0], torch.Tensor) and out["seq"][1] == 1.5
    assert out["flag"] is True and out["name"] == "x" and out["none"] is None
    assert given[Columns.OBS] is obs64  # the caller's dict is not modified


def test_numpy_float32_inputs_are_not_copied():
    module = echo()
    obs = np.zeros((2, 4), np.float32)
    got = module.forward_inference({Columns.OBS: obs})["batch"][Columns.OBS]
    obs[0, 0] = 5.0
    assert got[0, 0].item() == 5.0


def test_read_only_and_reversed_arrays_convert_without_warnings():
    module = build(TinyPolicy, "torch")
    obs = batch(3)[Columns.OBS]
    frozen = obs.copy()
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = module.forward_inference({Columns.OBS: frozen})[Columns.ACTION_DIST_INPUTS]
        b = module.forward_inference({Columns.OBS: obs[::-1].copy()[::-1]})[Columns.ACTION_DIST_INPUTS]
    assert torch.allclose(a, b)


def test_direct_method_calls_accept_numpy():
    module = build(TinyPolicy, "torch")
    values = module.compute_values(batch(3))
    assert isinstance(values, torch.Tensor) and values.shape == (3,)


def test_placement_follows_to_and_is_cached(monkeypatch):
    from rlmodule_torch import module as module_py

    module = build(TinyPolicy, "torch")
    module.forward_inference(batch(1))
    found = []
    original = module_py._find_placement
    monkeypatch.setattr(module_py, "_find_placement", lambda m: found.append(m) or original(m))
    module.forward_inference(batch(1))
    assert found == []  # cached
    module.to(torch.float64)
    assert module.forward_inference(batch(1))[Columns.ACTION_DIST_INPUTS].dtype == torch.float64
    assert len(found) == 1


# ---- native modules -------------------------------------------------------------------------------


def test_native_module_state_keys_are_its_state_dict_keys():
    module = native()
    assert module.framework == "torch" and isinstance(module, NativePolicy)
    state = module.get_state()
    expected = [k for k in module.state_dict() if not k.startswith("alias.")]  # shared: once
    assert list(state) == expected
    assert "scratch" not in state and state["count"].dtype == np.int64
    assert "body.1.running_var" in state and "log_std" in state


def test_native_module_state_round_trip():
    a, b = native(), pickle.loads(pickle.dumps(native()))
    b.set_state(a.get_state())
    a.eval(), b.eval()
    x = torch.from_numpy(batch(5)[Columns.OBS])
    assert torch.equal(a.forward_inference({Columns.OBS: x})[Columns.ACTION_DIST_INPUTS],
                       b.forward_inference({Columns.OBS: x})[Columns.ACTION_DIST_INPUTS])
    with pytest.raises(ValueError, match="missing keys .*body.1.running_mean"):
        b.set_state({k: v for k, v in a.get_state().items() if k != "body.1.running_mean"})


def test_native_module_cannot_run_on_numpy():
    with pytest.raises(ValueError, match="contradicts module_class"):
        native(framework="numpy")


# ---- the fast attribute and call path keeps torch semantics -------------------------------------


def test_hooks_fire_on_neutral_layers_and_blocks():
    module = build(TinyPolicy, "torch")
    seen = []
    handles = [
        module.pi.register_forward_hook(lambda m, args, out: seen.append("pi")),
        module.encoder.register_forward_pre_hook(lambda m, args: seen.append("encoder")),
    ]
    module.forward_inference(batch(2))
    assert seen == ["encoder", "pi"]
    for handle in handles:
        handle.remove()
    module.forward_inference(batch(2))
    assert seen == ["encoder", "pi"]
    from torch.nn.modules.module import register_module_forward_hook

    handle = register_module_forward_hook(lambda m, args, out: seen.append(type(m).__name__))
    try:
        module.forward_inference(batch(2))
    finally:
        handle.remove()
    assert "Dense" in seen[2:]


def test_module_compile_and_jit_trace_take_the_standard_call():
    module = build(TinyPolicy, "torch")
    x = torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in 2.13
        traced = torch.jit.trace(module.encoder, x)
    assert torch.allclose(traced(x), module.encoder(x))
    # nn.Module.compile() installs _compiled_call_impl, which nn.Module.__call__ runs.
    module.pi._compiled_call_impl = lambda *args, **kwargs: "compiled"
    assert module.pi(torch.zeros(1, 16)) == "compiled"


def test_replacing_and_deleting_children_is_seen_everywhere():
    module = build(TinyPolicy, "torch", model_config={"seed": 0})
    with build_scope("torch", 1):
        new_pi = tnn.Dense(16, 3)
    module.pi = new_pi
    assert module.pi is new_pi and module._modules["pi"] is new_pi
    np.testing.assert_array_equal(module.get_state()["pi.kernel"], new_pi.weight.detach().numpy().T)
    x = torch.from_numpy(batch(2)[Columns.OBS])
    assert torch.allclose(module.forward_inference({Columns.OBS: x})[Columns.ACTION_DIST_INPUTS],
                          new_pi(module.encoder(x)))
    del module.vf
    assert not hasattr(module, "vf") and "vf.kernel" not in module.get_state()
    module.add_module("extra", tnn.Dense(2, 2))
    assert module.extra is module._modules["extra"]
    module.extra = None
    assert module.extra is None and "extra.kernel" not in module.get_state()
    with pytest.raises(TypeError):
        module.pi = "not a module"  # torch's own check still applies


def test_deepcopy_and_pickle_are_independent_and_consistent():
    module = build(TinyPolicy, "torch")
    for clone in (copy.deepcopy(module), pickle.loads(pickle.dumps(module))):
        assert clone.pi is clone._modules["pi"] and clone.pi is not module.pi
        with torch.no_grad():
            clone.pi.weight.add_(1.0)
        assert not np.array_equal(clone.get_state()["pi.kernel"], module.get_state()["pi.kernel"])


def test_layers_do_not_draw_from_torch_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    build(EveryLayer, "torch", obs=EVERY_OBS)
    assert torch.equal(torch.rand(3), expected)


# ---- numpy <-> torch ----------------------------------------------------------------------------


def test_numpy_and_torch_states_are_interchangeable_for_an_image_ppo():
    spaces = dict(observation_space=gym.spaces.Box(0, 255, (42, 42, 3), np.uint8), action_space=gym.spaces.Discrete(4),
                  model_config={"fcnet_hiddens": [16], "conv_filters": [[4, 4, 2, "same"], [8, 3, 2]], "seed": 5})
    on_torch = rlm.RLModuleSpec(module_class=DefaultPPORLModule, framework="torch", **spaces).build()
    on_numpy = rlm.RLModuleSpec(module_class=DefaultPPORLModule, framework="numpy", **spaces).build()
    state = on_torch.get_state()
    assert all(np.array_equal(state[k], v) for k, v in on_numpy.get_state().items())  # same seed
    state = {k: v + np.float32(0.01) for k, v in state.items()}
    on_torch.set_state(state)
    on_numpy.set_state(on_torch.get_state())
    obs = np.random.default_rng(0).integers(0, 256, (3, 42, 42, 3)).astype(np.uint8)
    got = on_torch.forward_train({Columns.OBS: obs})
    want = on_numpy.forward_train({Columns.OBS: obs})
    for key in want:
        np.testing.assert_allclose(got[key].detach().numpy(), want[key], atol=1e-4, rtol=1e-4)


def test_every_layer_module_matches_numpy_in_train_mode():
    module = build(EveryLayer, "torch", obs=EVERY_OBS)
    reference = build(EveryLayer, "numpy", obs=EVERY_OBS)
    reference.set_state(module.get_state())
    b = every_layer_batch(n=3, t=5)
    got, want = module.forward_train(b), reference.forward_train(b)
    np.testing.assert_allclose(got["img"].detach().numpy(), want["img"], atol=2e-5)
    np.testing.assert_allclose(got["vec"].detach().numpy(), want["vec"], atol=2e-5)
