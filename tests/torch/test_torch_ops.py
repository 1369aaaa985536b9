"""The torch ``ops`` namespace against the NumPy reference (rlmodule_numpy.ops)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rlmodule_numpy import ops as nops  # noqa: E402
from rlmodule_torch import ops  # noqa: E402

CONTRACT = (
    "asarray to_numpy cast shape reshape concatenate stack split squeeze expand_dims "
    "broadcast_to sum mean max min argmax logsumexp exp log log1p tanh sqrt square abs "
    "sigmoid softplus relu maximum minimum clip where softmax log_softmax take_along_axis "
    "one_hot stop_gradient zeros ones full zeros_like ones_like arange linspace rng as_rng "
    "uniform normal"
).split()

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4, 5)).astype(np.float32) * 3
POS = np.abs(X) + 0.1


def same(got, want, atol=1e-6, rtol=1e-5):
    """``got`` (a torch tensor) equals the NumPy reference in values and dtype."""
    assert isinstance(got, torch.Tensor), type(got)
    got = ops.to_numpy(got)
    want = np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, atol=atol, rtol=rtol)


def test_every_contract_function_exists():
    assert [name for name in CONTRACT if not callable(getattr(ops, name, None))] == []


def test_float32_defaults():
    assert ops.asarray([1.0, 2.0]).dtype == torch.float32
    assert ops.asarray(1.5).dtype == torch.float32
    assert ops.asarray([1, 2]).dtype == torch.int64
    assert ops.asarray(np.arange(3.0)).dtype == torch.float32  # numpy float64 enters as float32
    assert ops.asarray(np.arange(3.0), dtype="float64").dtype == torch.float64
    assert ops.zeros((2,)).dtype == torch.float32
    assert ops.full((2,), 3).dtype == torch.float32
    assert ops.linspace(0, 1, 5).dtype == torch.float32
    assert ops.arange(3).dtype == torch.int64
    assert ops.uniform(ops.rng(0), (3,)).dtype == torch.float32
    assert ops.normal(ops.rng(0), 3).dtype == torch.float32
    assert ops.exp(torch.tensor([1, 2])).dtype == torch.float32


def test_asarray_and_cast_do_not_copy_tensors():
    x = torch.arange(4.0)
    assert ops.asarray(x) is x
    assert ops.asarray(x, dtype="float32") is x
    assert ops.cast(x, "float32") is x
    assert ops.cast(x, "int64").dtype == torch.int64
    assert ops.cast(x, np.float64).dtype == torch.float64
    assert ops.cast(x, torch.float16).dtype == torch.float16
    a = np.arange(4, dtype=np.float32)
    t = ops.asarray(a)
    a[0] = 7.0  # shares memory with the NumPy array: no copy at the boundary
    assert t[0].item() == 7.0
    assert ops.shape(torch.zeros(2, 3)) == (2, 3) and ops.shape(np.zeros((2, 3))) == (2, 3)
    with pytest.raises(TypeError, match="no torch equivalent"):
        ops.cast(x, "float128")


def test_asarray_of_awkward_numpy_arrays():
    frozen = np.arange(4, dtype=np.float32)
    frozen.flags.writeable = False
    reversed_view = np.arange(4, dtype=np.int64)[::-1]
    big_endian = np.arange(4, dtype=">f4")
    for array in (frozen, reversed_view, big_endian):
        np.testing.assert_array_equal(ops.to_numpy(ops.asarray(array)), array)
    with pytest.raises(TypeError, match="bool, integer, float or complex"):
        ops.asarray(np.array(["a"]))


def test_to_numpy_detaches_and_converts():
    x = torch.ones(2, requires_grad=True) * 2
    out = ops.to_numpy(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert ops.to_numpy(torch.ones(2, dtype=torch.bfloat16)).dtype == np.float32
    assert isinstance(ops.to_numpy([1, 2]), np.ndarray)


def test_split_semantics():
    x = np.arange(12).reshape(2, 6)
    t = torch.from_numpy(x)
    for args, kwargs in [((2,), {}), (([1, 4],), {"axis": -1}), ((2,), {"axis": 0}), (([],), {})]:
        got, want = ops.split(t, *args, **kwargs), nops.split(x, *args, **kwargs)
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
    with pytest.raises(ValueError, match="divides the axis"):
        ops.split(t, 4)


def test_shaping_matches_numpy():
    x = np.zeros((2, 1, 3), np.float32)
    t = torch.from_numpy(x)
    same(ops.squeeze(t, 1), nops.squeeze(x, 1))
    same(ops.squeeze(torch.zeros(1, 2, 1), (0, 2)), nops.squeeze(np.zeros((1, 2, 1), np.float32), (0, 2)))
    with pytest.raises(ValueError, match="size 1"):
        ops.squeeze(t, 0)
    for axis in (-1, 0, (0, 2), (-1, -2), (1, -1)):
        same(ops.expand_dims(t, axis), nops.expand_dims(x, axis))
    same(ops.reshape(t, (3, 2)), nops.reshape(x, (3, 2)))
    same(ops.reshape(t, [6]), nops.reshape(x, [6]))
    same(ops.reshape(t, 6), nops.reshape(x, 6))
    same(ops.concatenate([t, t], axis=-1), nops.concatenate([x, x], axis=-1))
    same(ops.stack([t, t], axis=1), nops.stack([x, x], axis=1))
    same(ops.broadcast_to(torch.ones(3), (4, 3)), nops.broadcast_to(np.ones(3, np.float32), (4, 3)))


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(name, axis, keepdims):
    same(getattr(ops, name)(torch.from_numpy(X), axis=axis, keepdims=keepdims),
         getattr(nops, name)(X, axis=axis, keepdims=keepdims))


def test_integer_reductions_and_argmax():
    ints = np.array([[1, 5, 3], [4, 2, 6]], np.int64)
    t = torch.from_numpy(ints)
    same(ops.sum(t, axis=-1), nops.sum(ints, axis=-1))
    same(ops.mean(t), nops.mean(ints))
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)
    same(ops.argmax(torch.from_numpy(ties)), nops.argmax(ties))  # first maximum, int64
    same(ops.argmax(torch.from_numpy(X), axis=0), nops.argmax(X, axis=0))


@pytest.mark.parametrize("axis", [-1, 0, (1, 2), None])
def test_logsumexp_matches_numpy(axis):
    same(ops.logsumexp(torch.from_numpy(X), axis=axis), nops.logsumexp(X, axis=axis))
    same(ops.logsumexp(torch.from_numpy(X), axis=axis, keepdims=True), nops.logsumexp(X, axis=axis, keepdims=True))


def test_logsumexp_and_log_softmax_are_stable():
    x = np.array([[1e4, 1e4], [-np.inf, -np.inf], [0.0, np.log(3.0)]], np.float32)
    out = ops.to_numpy(ops.logsumexp(torch.from_numpy(x)))
    np.testing.assert_allclose(out, nops.logsumexp(x), rtol=1e-6)
    assert out[1] == -np.inf
    big = np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, 1e4]], np.float32)
    same(ops.log_softmax(torch.from_numpy(big)), nops.log_softmax(big))
    same(ops.softmax(torch.from_numpy(big)), nops.softmax(big))
    masked = np.array([[0.5, -np.inf, 1.0]], np.float32)  # an action mask
    same(ops.log_softmax(torch.from_numpy(masked)), nops.log_softmax(masked))
    same(ops.softmax(torch.from_numpy(X), axis=0), nops.softmax(X, axis=0))


@pytest.mark.parametrize(
    "name, data",
    [("exp", X), ("log", POS), ("log1p", POS), ("tanh", X), ("sqrt", POS), ("square", X),
     ("abs", X), ("sigmoid", X), ("relu", X)],
)
def test_elementwise_matches_numpy(name, data):
    same(getattr(ops, name)(torch.from_numpy(data)), getattr(nops, name)(data))


def test_softplus_and_sigmoid_at_extremes():
    x = np.array([-1000.0, -50.0, 0.0, 3.0, 50.0, 1000.0], np.float32)
    same(ops.softplus(torch.from_numpy(x)), nops.softplus(x), atol=1e-7)
    same(ops.sigmoid(torch.from_numpy(x)), nops.sigmoid(x), atol=0, rtol=1e-6)
    assert ops.to_numpy(ops.softplus(torch.from_numpy(x)))[-1] == 1000.0


def test_binary_and_selection_ops():
    x = np.array([-2.0, 0.5, 3.0], np.float32)
    t = torch.from_numpy(x)
    same(ops.maximum(t, 1.0), nops.maximum(x, 1.0))
    same(ops.minimum(t, 1), nops.minimum(x, 1.0))  # a Python int takes the tensor's dtype
    same(ops.maximum(t, torch.zeros(3)), nops.maximum(x, np.zeros(3, np.float32)))
    same(ops.clip(t, -1.0, 1.0), nops.clip(x, -1.0, 1.0))
    same(ops.clip(t, None, 1.0), nops.clip(x, None, 1.0))
    same(ops.clip(t, torch.tensor([-3.0, 0.0, 0.0]), 2.0), np.array([-2.0, 0.5, 2.0], np.float32))
    same(ops.where(t > 0, t, ops.zeros_like(t)), nops.where(x > 0, x, nops.zeros_like(x)))
    same(ops.where(t > 0, t, 0.0), np.array([0.0, 0.5, 3.0], np.float32))
    same(ops.where(t > 0, -1.0, t), np.array([-2.0, -1.0, -1.0], np.float32))
    assert ops.stop_gradient(t) is not t and not ops.stop_gradient(t.requires_grad_()).requires_grad


def test_take_along_axis_and_one_hot():
    x = np.array([[10.0, 11.0, 12.0], [20.0, 21.0, 22.0]], np.float32)
    for idx, axis in [(np.array([[2], [0]]), -1), (np.array([[1, 0, 1]]), 0)]:
        same(ops.take_along_axis(torch.from_numpy(x), torch.from_numpy(idx), axis),
             nops.take_along_axis(x, idx, axis))
    idx = np.array([[0, 2], [1, 5], [-1, 1]])
    same(ops.one_hot(torch.from_numpy(idx), 3), nops.one_hot(idx, 3))  # out of range: zeros
    same(ops.one_hot(torch.from_numpy(idx), 3, dtype="int64"), nops.one_hot(idx, 3, dtype="int64"))


def test_creation_matches_numpy():
    same(ops.zeros((2, 3)), nops.zeros((2, 3)))
    same(ops.ones(4, dtype="int64"), nops.ones(4, dtype="int64"))
    same(ops.full((2,), 3.5), nops.full((2,), 3.5))
    same(ops.zeros_like(torch.ones(2, dtype=torch.int32)), nops.zeros_like(np.ones(2, np.int32)))
    same(ops.ones_like(torch.zeros(3)), nops.ones_like(np.zeros(3, np.float32)))
    same(ops.arange(5), nops.arange(5))
    same(ops.linspace(-1, 1, 7), nops.linspace(-1, 1, 7))


def test_gradients_flow_through_ops():
    x = torch.tensor([[0.3, -1.2, 2.0]], requires_grad=True)
    y = ops.sum(ops.log_softmax(x) * ops.softmax(x)) + ops.mean(ops.square(ops.tanh(x)))
    y = y + ops.sum(ops.take_along_axis(x, torch.tensor([[2]]), -1)) + ops.logsumexp(x, axis=-1).sum()
    y.backward()
    assert x.grad is not None and torch.all(torch.isfinite(x.grad)) and x.grad.abs().sum() > 0


# ---- random --------------------------------------------------------------------------------


def test_as_rng():
    assert ops.as_rng(None) is torch.default_generator
    g = ops.rng(3)
    assert isinstance(g, torch.Generator) and ops.as_rng(g) is g
    a, b, c = (ops.uniform(ops.as_rng(s), (5,)) for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(ops.normal(ops.as_rng(np.int64(7)), (3,)), ops.normal(7, (3,)))
    assert not torch.equal(ops.normal(ops.rng(), (4,)), ops.normal(ops.rng(), (4,)))


@pytest.mark.parametrize("bad", [1.5, "0", True, np.random.default_rng(0), [1]])
def test_as_rng_rejects_other_values(bad):
    with pytest.raises(ValueError, match=r"Expected None, an int seed or a torch.Generator; received"):
        ops.as_rng(bad)


def test_default_generator_follows_torch_manual_seed():
    torch.manual_seed(123)
    first = ops.uniform(None, (4,))
    torch.manual_seed(123)
    assert torch.equal(first, ops.uniform(None, (4,)))
    assert not torch.equal(ops.uniform(None, (4,)), ops.uniform(None, (4,)))


def test_random_draws():
    g = ops.rng(0)
    u = ops.to_numpy(ops.uniform(g, (10000,), low=-2.0, high=3.0))
    assert u.min() >= -2.0 and u.max() < 3.0
    assert u.mean() == pytest.approx(0.5, abs=0.07)
    n = ops.to_numpy(ops.normal(g, (100, 200)))
    assert n.shape == (100, 200)
    assert n.mean() == pytest.approx(0.0, abs=0.035) and n.std() == pytest.approx(1.0, abs=0.025)
    assert ops.normal(g, (2,), dtype="float64").dtype == torch.float64
    assert ops.uniform(g, (2,), dtype="float16").dtype == torch.float16
    assert not torch.equal(ops.normal(g, (3,)), ops.normal(g, (3,)))  # one stream continues
