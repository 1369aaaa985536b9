"""The torch layers against the NumPy reference layers built from the same seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rlmodule_numpy import nn as nnp  # noqa: E402
from rlmodule_torch import nn as tnn  # noqa: E402

from rlmodule_core.backend.scope import build_scope  # noqa: E402

RNG = np.random.default_rng(0)


def pair(name, *args, **kwargs):
    """The same layer on torch and on NumPy, with equal weights (same seed)."""
    with build_scope("torch", 7):
        on_torch = getattr(tnn, name)(*args, **kwargs)
    with build_scope("numpy", 7):
        on_numpy = getattr(nnp, name)(*args, **kwargs)
    return on_torch, on_numpy


def close(got, want, atol=2e-5):
    np.testing.assert_allclose(got.detach().numpy(), want, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("activation", [None, "linear", "relu", "tanh", "sigmoid", "elu", "swish", "silu", "softplus", "leaky_relu"])
def test_dense_matches_numpy(activation):
    layer, ref = pair("Dense", 5, 3, activation=activation)
    for shape in [(4, 5), (2, 3, 5), (5,)]:  # addmm for 2-D, matmul otherwise
        x = RNG.normal(size=shape).astype(np.float32) * 3
        close(layer(torch.from_numpy(x)), ref(x))


def test_dense_without_bias_and_with_initializers():
    layer, ref = pair("Dense", 4, 2, use_bias=False, kernel_initializer={"name": "orthogonal", "gain": 0.5})
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    np.testing.assert_array_equal(layer.weight.detach().numpy().T, ref.kernel)
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    close(layer(torch.from_numpy(x)), ref(x))


@pytest.mark.parametrize("in_features, out_features", [(300, 2), (6, 300)])
def test_wide_and_narrow_dense_behave_like_torch_linear(in_features, out_features):
    # Wide and narrow layers alike must be interchangeable with torch.nn.Linear.
    layer, ref = pair("Dense", in_features, out_features)
    linear = torch.nn.Linear(in_features, out_features)
    linear.load_state_dict(layer.state_dict())
    assert layer.weight.shape == linear.weight.shape
    x = torch.from_numpy(RNG.normal(size=(5, in_features)).astype(np.float32))
    close(layer(x), ref(x.numpy()))
    close(layer(x), linear(x).detach().numpy())
    for net in (layer, linear):
        net(x).square().sum().backward()
    close(layer.weight.grad, linear.weight.grad.numpy(), atol=1e-4)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    optimizer.step()
    close(layer.weight.t(), ref.kernel, atol=0.2)  # one Adam step moves each weight by <= lr
    assert not np.allclose(layer.weight.detach().numpy().T, ref.kernel)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown activation 'gelu'.*'relu'"):
        tnn.Dense(2, 2, activation="gelu")


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, "same"), (3, 2, "same"), (4, 2, "same"), ((2, 3), (1, 2), "valid"), (3, 3, "valid")])
def test_conv2d_matches_numpy(size, kernel, stride, padding):
    layer, ref = pair("Conv2D", 3, 4, kernel, stride, padding, activation="relu")
    x = RNG.uniform(-1, 1, (2, size, size + 1, 3)).astype(np.float32)
    out = layer(torch.from_numpy(x))
    close(out, ref(x))
    assert out.is_contiguous()  # NHWC out, ready for Flatten without a copy


def test_conv2d_is_stored_like_torch_conv2d():
    layer, ref = pair("Conv2D", 3, 5, (2, 3), stride=2)
    torch_conv = torch.nn.Conv2d(3, 5, (2, 3), stride=2)
    torch_conv.load_state_dict(layer.state_dict())
    x = RNG.uniform(-1, 1, (2, 7, 9, 3)).astype(np.float32)
    close(torch_conv(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1), ref(x))


def test_conv2d_without_bias_and_bad_padding():
    layer, ref = pair("Conv2D", 2, 3, 2, use_bias=False)
    x = RNG.uniform(-1, 1, (1, 4, 4, 2)).astype(np.float32)
    close(layer(torch.from_numpy(x)), ref(x))
    with pytest.raises(ValueError, match="padding 'valid' or 'same'"):
        tnn.Conv2D(2, 3, 2, padding="full")


@pytest.fixture(params=["fused", "loop"])
def lstm_path(request, monkeypatch):
    """Runs a test on torch's fused LSTM kernel and on the Python loop (torch.compile's path)."""
    if request.param == "loop":
        monkeypatch.setattr(tnn, "_FUSED_LSTM", None)
    return request.param


def test_lstm_matches_numpy_with_and_without_state(lstm_path):
    layer, ref = pair("LSTM", 5, 4)
    x = RNG.normal(size=(3, 6, 5)).astype(np.float32)
    out, state = layer(torch.from_numpy(x))
    ref_out, ref_state = ref(x)
    close(out, ref_out)
    close(state["c"], ref_state["c"])
    h0 = {"h": RNG.normal(size=(3, 4)).astype(np.float32), "c": RNG.normal(size=(3, 4)).astype(np.float32)}
    out, state = layer(torch.from_numpy(x), {k: torch.from_numpy(v) for k, v in h0.items()})
    ref_out, ref_state = ref(x, h0)
    close(out, ref_out)
    close(state["h"], ref_state["h"])
    empty, state = layer(torch.zeros(2, 0, 5))
    assert empty.shape == (2, 0, 4) and state["h"].shape == (2, 4)


def test_lstm_is_stored_like_torch_nn_lstm():
    # weight_ih/weight_hh are torch's (gates i, f, g, o); torch's second bias is zero.
    layer, _ = pair("LSTM", 3, 2)
    reference = torch.nn.LSTM(3, 2, batch_first=True)
    with torch.no_grad():
        reference.weight_ih_l0.copy_(layer.weight_ih)
        reference.weight_hh_l0.copy_(layer.weight_hh)
        reference.bias_ih_l0.copy_(layer.bias)
        reference.bias_hh_l0.zero_()
    assert [n for n, _ in layer.named_parameters()] == ["weight_ih", "weight_hh", "bias"]
    assert list(layer.state_dict()) == ["weight_ih", "weight_hh", "bias"]  # no zero bias
    x = torch.randn(4, 5, 3)
    out, state = layer(x)
    ref_out, (h, c) = reference(x)
    assert torch.allclose(out, ref_out, atol=1e-6) and torch.allclose(state["c"], c[0], atol=1e-6)


def test_lstm_paths_agree_in_values_and_gradients(monkeypatch):
    layer, _ = pair("LSTM", 3, 4)
    x = torch.randn(2, 6, 3)
    h0 = {"h": torch.randn(2, 4), "c": torch.randn(2, 4)}
    results = []
    for fused in (tnn._FUSED_LSTM, None):
        monkeypatch.setattr(tnn, "_FUSED_LSTM", fused)
        layer.zero_grad()
        out, state = layer(x, h0)
        (out.square().sum() + state["c"].sum()).backward()
        results.append((out.detach(), [p.grad.clone() for p in layer.parameters()]))
    (out_a, grads_a), (out_b, grads_b) = results
    assert torch.allclose(out_a, out_b, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads_a, grads_b))


def test_layer_norm_bias_flatten_activation():
    norm, ref = pair("LayerNorm", 6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    ref.scale, ref.bias = norm.weight.detach().numpy(), norm.bias.detach().numpy()
    x = RNG.normal(size=(3, 6)).astype(np.float32) * 4 + 2
    close(norm(torch.from_numpy(x)), ref(x))
    torch_norm = torch.nn.LayerNorm(6)  # stored like torch's: its state_dict loads
    torch_norm.load_state_dict(norm.state_dict())
    close(torch_norm(torch.from_numpy(x)), ref(x))
    bias, ref_bias = pair("Bias", 3, initializer={"name": "constant", "value": -0.5})
    close(bias(torch.zeros(2, 3)), ref_bias(np.zeros((2, 3), np.float32)))
    img = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    close(tnn.Flatten()(torch.from_numpy(img)), nnp.Flatten()(img))
    close(tnn.Activation("elu")(torch.from_numpy(img)), nnp.Activation("elu")(img))


def test_containers():
    with build_scope("torch", 0):
        seq = tnn.Sequential([tnn.Dense(2, 3, activation="relu"), tnn.Dense(3, 1)])
        lst = tnn.List([tnn.Dense(1, 1)])
        dct = tnn.Dict({"type": tnn.Dense(1, 2), "state": tnn.Dense(1, 3)})  # Module attribute names
    assert [n for n, _ in seq.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
    ]
    assert seq(torch.ones(4, 2)).shape == (4, 1)
    lst.append(tnn.Dense(1, 1))
    assert len(lst) == 2 and [n for n, _ in lst.named_parameters()][-1] == "1.bias"
    assert list(dct) == ["type", "state"] and "type" in dct and len(dct) == 2
    assert dct["type"](torch.ones(1, 1)).shape == (1, 2) and callable(dct.type)  # Module.type intact
    assert [n for n, _ in dct.named_parameters()][:2] == ["type.weight", "type.bias"]
    with pytest.raises(ValueError, match="without '.'"):
        tnn.Dict({"a.b": tnn.Dense(1, 1)})
    with pytest.raises(TypeError, match="must be layers"):
        tnn.Dict({"a": 3})


def test_layers_accept_numpy_inputs():
    layer, ref = pair("Dense", 3, 2)
    x = RNG.normal(size=(2, 3))  # float64 numpy: converted to the layer's dtype
    out = layer(x)
    assert out.dtype == torch.float32
    close(out, ref(x.astype(np.float32)))


def test_gradients_reach_every_layer_parameter(lstm_path):
    with build_scope("torch", 0):
        conv = tnn.Conv2D(3, 2, 3, stride=2, padding="same")
        lstm = tnn.LSTM(2, 3)
        norm = tnn.LayerNorm(3)
        dense = tnn.Dense(3, 1)
    img = conv(torch.randn(2, 5, 5, 3))  # (2, 3, 3, 2)
    seq, _ = lstm(img.reshape(2, 9, 2))
    dense(norm(seq)).sum().backward()
    for layer in (conv, lstm, norm, dense):
        for name, p in layer.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def _wide_ppo(framework: str = "torch"):
    import gymnasium as gym

    import rlmodule_core as rlm
    from rlmodule_core.modules import DefaultPPORLModule

    return rlm.RLModuleSpec(
        module_class=DefaultPPORLModule, framework=framework,
        observation_space=gym.spaces.Box(-1.0, 1.0, (6,), np.float32), action_space=gym.spaces.Discrete(3),
        model_config={"fcnet_hiddens": [512, 512], "seed": 5},
    ).build()


def test_default_ppo_with_wide_layers_has_contiguous_parameters_torch_utilities_accept():
    module = _wide_ppo()
    assert all(p.is_contiguous() for p in module.parameters())
    vector = torch.nn.utils.parameters_to_vector(module.parameters())
    assert vector.numel() == sum(p.numel() for p in module.parameters())
    for p in module.parameters():
        assert p.view(-1).shape == (p.numel(),)
    torch.nn.utils.vector_to_parameters(vector * 0 + 1, module.parameters())
    assert all(np.all(v == 1) for v in module.get_state().values())


def test_wide_dense_state_dict_loads_into_linear_and_outputs_match_numpy():
    module, reference = _wide_ppo(), _wide_ppo("numpy")
    obs = {"obs": RNG.uniform(-1, 1, (4, 6)).astype(np.float32)}
    close(module.forward_inference(obs)["action_dist_inputs"], reference.forward_inference(obs)["action_dist_inputs"])
    dense = next(m for m in module.modules() if isinstance(m, tnn.Dense) and m.out_features == 512)
    linear = torch.nn.Linear(dense.in_features, 512)
    linear.load_state_dict(dense.state_dict())
    x = torch.from_numpy(RNG.normal(size=(3, dense.in_features)).astype(np.float32))
    close(torch.tanh(linear(x)), dense(x).detach().numpy())


def test_column_major_weights_is_an_opt_in_that_changes_no_value():
    module = _wide_ppo()
    obs = {"obs": RNG.uniform(-1, 1, (4, 6)).astype(np.float32)}
    before_out, before_state = module.forward_inference(obs)["action_dist_inputs"], module.get_state()
    assert tnn.column_major_weights(module) is module
    wide = [m.weight for m in module.modules() if isinstance(m, tnn.Dense) and m.out_features >= 256]
    narrow = [m.weight for m in module.modules() if isinstance(m, tnn.Dense) and m.out_features < 256]
    assert wide and narrow
    assert all(not w.is_contiguous() and w.t().is_contiguous() and w.requires_grad for w in wide)
    assert all(w.is_contiguous() for w in narrow)
    close(module.forward_inference(obs)["action_dist_inputs"], before_out.numpy())
    after = module.get_state()
    assert all(np.array_equal(after[k], before_state[k]) for k in before_state)
    module.set_state({k: v + 1 for k, v in before_state.items()})
    assert all(np.array_equal(module.get_state()[k], before_state[k] + 1) for k in before_state)
    assert all(w.data_ptr() == m.weight.data_ptr() for w, m in zip(wide, [
        m for m in module.modules() if isinstance(m, tnn.Dense) and m.out_features >= 256]))
