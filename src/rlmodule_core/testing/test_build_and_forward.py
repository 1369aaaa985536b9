"""Building from specs and the three forward passes, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.testing.helpers import (
    ACT,
    EVERY_OBS,
    OBS,
    assert_tree_close,
    batch,
    build,
    every_layer_batch,
    numpy_tree,
)
from rlmodule_core.testing.modules import MLP, EveryLayer, KwargsEcho, TinyPolicy


def test_spec_build_binds_the_neutral_class(framework, backend):
    module = build(TinyPolicy, framework)
    assert isinstance(module, TinyPolicy)
    assert isinstance(module, backend.RLModule)
    assert module.framework == framework
    assert type(module) is backend.bind(TinyPolicy)  # cached composition
    assert rlm.RLModuleSpec.from_module(module).module_class is TinyPolicy


def test_three_forwards_give_documented_keys_and_shapes(framework):
    module = build(TinyPolicy, framework)
    b = batch(5)
    for out in (module.forward_inference(b), module.forward_exploration(b)):
        assert numpy_tree(out[Columns.ACTION_DIST_INPUTS], framework).shape == (5, ACT.n)
    train = numpy_tree(module.forward_train(b), framework)
    assert train[Columns.ACTION_DIST_INPUTS].shape == (5, ACT.n)
    assert train[Columns.EMBEDDINGS].shape == (5, 16)
    values = numpy_tree(module.compute_values(b), framework)
    assert values.shape == (5,)


def test_forwards_agree_with_each_other_and_accept_backend_tensors(framework, backend):
    module = build(TinyPolicy, framework)
    b = batch(3)
    ref = numpy_tree(module.forward_inference(b), framework)
    tensors = {Columns.OBS: backend.ops.asarray(b[Columns.OBS])}
    assert_tree_close(numpy_tree(module.forward_inference(tensors), framework), ref)
    assert_tree_close(numpy_tree(module.forward_exploration(b), framework), ref)
    train = numpy_tree(module.forward_train(b), framework)
    np.testing.assert_allclose(train[Columns.ACTION_DIST_INPUTS], ref[Columns.ACTION_DIST_INPUTS], atol=1e-5)


def test_kwargs_reach_forward_and_phase_methods_are_used(framework):
    module = build(KwargsEcho, framework)
    b = batch(2)
    out = module.forward_exploration(b, t=7, explore=True)
    assert out["kwargs"] == {"t": 7, "explore": True} and out["phase"] == "generic"
    out = module.forward_inference(b, t=3)
    assert out["kwargs"] == {"t": 3} and out["phase"] == "inference"


def test_seeded_builds_are_equal_and_match_numpy_weights(framework):
    a = build(TinyPolicy, framework, model_config={"seed": 3})
    b = build(TinyPolicy, framework, model_config={"seed": 3})
    ref = build(TinyPolicy, "numpy", model_config={"seed": 3})
    sa, sb, sref = a.get_state(), b.get_state(), ref.get_state()
    assert sa.keys() == sref.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key])
        np.testing.assert_allclose(sa[key], sref[key], rtol=0, atol=0)


def test_unseeded_builds_differ(framework):
    a, b = build(TinyPolicy, framework), build(TinyPolicy, framework)
    assert not np.array_equal(a.get_state()["pi.kernel"], b.get_state()["pi.kernel"])


def test_outputs_match_numpy_reference_for_every_layer(framework):
    module = build(EveryLayer, framework, obs=EVERY_OBS)
    reference = build(EveryLayer, "numpy", obs=EVERY_OBS)
    reference.set_state(module.get_state())
    b = every_layer_batch()
    got = numpy_tree(module.forward_inference(b), framework)
    want = numpy_tree(reference.forward_inference(b), "numpy")
    assert_tree_close(got, want, atol=2e-5)
    assert got["img"].shape == (2, 7) and got["vec"].shape == (2, 3, 7)
    assert got[Columns.STATE_OUT]["h"].shape == (2, 4)


def test_lstm_continues_from_state_in(framework):
    module = build(EveryLayer, framework, obs=EVERY_OBS)
    b = every_layer_batch(t=4)
    whole = numpy_tree(module.forward_inference(b), framework)
    first = {Columns.OBS: {"img": b[Columns.OBS]["img"], "vec": b[Columns.OBS]["vec"][:, :2]}}
    out1 = module.forward_inference(first)
    second = {
        Columns.OBS: {"img": b[Columns.OBS]["img"], "vec": b[Columns.OBS]["vec"][:, 2:]},
        Columns.STATE_IN: out1[Columns.STATE_OUT],
    }
    out2 = numpy_tree(module.forward_inference(second), framework)
    np.testing.assert_allclose(out2["vec"], whole["vec"][:, 2:], atol=1e-5)


def test_canonical_state_layout(framework):
    module = build(EveryLayer, framework, obs=EVERY_OBS)
    shapes = {k: v.shape for k, v in module.get_state().items()}
    assert shapes["conv.layers.0.kernel"] == (3, 3, 3, 4)
    assert shapes["conv.layers.1.kernel"] == (2, 3, 4, 6)
    assert shapes["heads.img.layers.0.kernel"] == (36, 7)
    assert shapes["heads.img.layers.1.scale"] == (7,)
    assert shapes["lstm.kernel"] == (5, 16)
    assert shapes["lstm.recurrent_kernel"] == (4, 16)
    assert shapes["lstm.bias"] == (16,)
    assert all(isinstance(v, np.ndarray) for v in module.get_state().values())


def test_block_binds_to_the_module_backend(framework, backend):
    module = build(TinyPolicy, framework)
    assert isinstance(module.encoder, MLP) and isinstance(module.encoder, backend.Block)
    assert "encoder.net.layers.1.kernel" in module.get_state()


def test_direct_construction_uses_the_default_framework(framework, monkeypatch):
    monkeypatch.setenv("RLMODULE_FRAMEWORK", framework)
    module = TinyPolicy(observation_space=OBS, action_space=ACT)
    assert module.framework == framework and isinstance(module, TinyPolicy)
    assert numpy_tree(module.forward_inference(batch(1)), framework)[Columns.ACTION_DIST_INPUTS].shape == (1, 3)


def test_forward_train_on_inference_only_raises(framework):
    module = build(TinyPolicy, framework, inference_only=True)
    with pytest.raises(RuntimeError, match="inference-only"):
        module.forward_train(batch(2))


def test_inference_only_removes_parameters_and_accepts_full_state(framework):
    full = build(TinyPolicy, framework)
    slim = build(TinyPolicy, framework, inference_only=True)
    assert not hasattr(slim, "vf")
    assert not any(k.startswith("vf.") for k in slim.get_state())
    assert set(full.get_state(inference_only=True)) == set(slim.get_state())
    slim.set_state(full.get_state())
    assert_tree_close(
        numpy_tree(slim.forward_inference(batch(4)), framework),
        numpy_tree(full.forward_inference(batch(4)), framework),
    )


def test_pickled_module_gives_the_same_outputs(framework):
    import pickle

    module = build(TinyPolicy, framework)
    clone = pickle.loads(pickle.dumps(module))
    assert type(clone) is type(module)
    assert_tree_close(
        numpy_tree(clone.forward_inference(batch(2)), framework),
        numpy_tree(module.forward_inference(batch(2)), framework),
    )


def test_multi_rl_module_routes_batches(framework):
    spec = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT, framework=framework)
    multi = rlm.MultiRLModuleSpec(rl_module_specs={"a": spec, "b": spec}).build()
    out = multi.forward_inference({"a": batch(2), "b": batch(3)})
    assert numpy_tree(out["b"][Columns.ACTION_DIST_INPUTS], framework).shape == (3, 3)
    assert set(multi.forward_train({"a": batch(2)})) == {"a"}
    with pytest.raises(KeyError, match="available module IDs"):
        multi.forward_inference({"c": batch(2)})


def test_bias_layer_is_a_free_parameter(framework):
    from rlmodule_core.testing.modules import FreeBias

    module = build(FreeBias, framework)
    state = module.get_state()
    np.testing.assert_array_equal(state["log_std.bias"], np.full(2, -0.5, np.float32))
    module.set_state({**state, "log_std.bias": np.array([0.25, 1.0], np.float32)})
    out = numpy_tree(module.forward_inference(batch(3)), framework)
    np.testing.assert_allclose(out["log_std"], np.tile([0.25, 1.0], (3, 1)))


@pytest.mark.parametrize("key", ["", "a.b", 3])
def test_nn_dict_rejects_keys_that_cannot_be_state_paths(framework, backend, key):
    with pytest.raises(ValueError, match="Dict keys must be non-empty strings without '.'"):
        backend.nn.Dict({key: backend.nn.Dense(2, 2)})


# Keys a torch module accepts must build everywhere: private-looking names, method names
# of the container or of the frameworks' module classes, and Python/NNX internals.
ODD_KEYS = ["_private", "keys", "items", "values", "train", "eval", "state", "__dict__", "_pytree__state", "call"]


class OddKeys(rlm.RLModule):
    def setup(self):
        self.heads = self.nn.Dict({key: self.nn.Bias(2, initializer="ones") for key in ODD_KEYS})

    def _forward(self, batch, **kwargs):
        x = batch[Columns.OBS][:, :2]
        total = x
        for i, key in enumerate(self.heads.keys()):
            total = total + (i + 1) * self.heads[key](x)
        return {Columns.ACTION_DIST_INPUTS: total, "order": list(self.heads.keys())}


def test_nn_dict_accepts_the_same_keys_on_every_backend(framework):
    module = build(OddKeys, framework)
    assert set(module.get_state()) == {f"heads.{key}.bias" for key in ODD_KEYS}
    obs = batch(3)
    x = obs[Columns.OBS][:, :2]
    want = x + sum((i + 1) * (x + 1.0) for i in range(len(ODD_KEYS)))
    for method in ("forward_inference", "forward_train"):
        for _ in range(2):  # eager or tracing first, then the compiled forward where there is one
            out = getattr(module, method)(obs)
            assert out["order"] == ODD_KEYS
            np.testing.assert_allclose(numpy_tree(out[Columns.ACTION_DIST_INPUTS], framework), want, rtol=1e-5)
    state = {k: v * 0 + 2.0 for k, v in module.get_state().items()}
    module.set_state(state)
    out = module.forward_inference(obs)
    np.testing.assert_allclose(numpy_tree(out[Columns.ACTION_DIST_INPUTS], framework),
                               x + sum((i + 1) * (x + 2.0) for i in range(len(ODD_KEYS))), rtol=1e-5)
