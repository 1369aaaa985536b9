"""What the torch ``ops`` do beyond the shared contract (rlmodule_core.testing.test_ops):
zero-copy NumPy input, torch dtypes, autograd, and torch's default generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rlmodule_torch import ops  # noqa: E402


def test_numpy_float64_enters_as_float32_unless_asked():
    assert ops.asarray(np.arange(3.0)).dtype == torch.float32
    assert ops.asarray(np.arange(3.0), dtype="float64").dtype == torch.float64


def test_asarray_shares_memory_with_numpy_and_cast_takes_any_dtype_spelling():
    a = np.arange(4, dtype=np.float32)
    t = ops.asarray(a)
    a[0] = 7.0  # shares memory with the NumPy array: no copy at the boundary
    assert t[0].item() == 7.0
    x = torch.arange(4.0)
    assert ops.cast(x, np.float64).dtype == torch.float64
    assert ops.cast(x, torch.float16).dtype == torch.float16
    with pytest.raises(TypeError, match="no torch equivalent"):
        ops.cast(x, "float128")
    with pytest.raises(TypeError, match="bool, integer, float or complex"):
        ops.asarray(np.array(["a"]))


def test_to_numpy_detaches_and_converts():
    x = torch.ones(2, requires_grad=True) * 2
    out = ops.to_numpy(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert ops.to_numpy(torch.ones(2, dtype=torch.bfloat16)).dtype == np.float32
    assert isinstance(ops.to_numpy([1, 2]), np.ndarray)


def test_error_messages_of_split_and_squeeze():
    with pytest.raises(ValueError, match="divides the axis"):
        ops.split(torch.arange(12).reshape(2, 6), 4)
    with pytest.raises(ValueError, match="size 1"):
        ops.squeeze(torch.zeros(2, 1, 3), 0)


def test_clip_with_an_open_side_and_stop_gradient():
    x = torch.tensor([-2.0, 0.5, 3.0])
    assert torch.equal(ops.clip(x, None, 1.0), torch.tensor([-2.0, 0.5, 1.0]))
    assert ops.stop_gradient(x) is not x and not ops.stop_gradient(x.requires_grad_()).requires_grad


def test_gradients_flow_through_ops():
    x = torch.tensor([[0.3, -1.2, 2.0]], requires_grad=True)
    y = ops.sum(ops.log_softmax(x) * ops.softmax(x)) + ops.mean(ops.square(ops.tanh(x)))
    y = y + ops.sum(ops.take_along_axis(x, torch.tensor([[2]]), -1)) + ops.logsumexp(x, axis=-1).sum()
    y.backward()
    assert x.grad is not None and torch.all(torch.isfinite(x.grad)) and x.grad.abs().sum() > 0


def test_generators_are_torch_generators():
    assert ops.as_rng(None) is torch.default_generator
    assert isinstance(ops.rng(3), torch.Generator)
    assert torch.equal(ops.normal(ops.as_rng(np.int64(7)), (3,)), ops.normal(7, (3,)))
    assert ops.uniform(ops.rng(0), (2,), dtype="float16").dtype == torch.float16
    with pytest.raises(ValueError, match=r"Expected None, an int seed or a torch.Generator; received"):
        ops.as_rng(np.random.default_rng(0))


def test_default_generator_follows_torch_manual_seed():
    torch.manual_seed(123)
    first = ops.uniform(None, (4,))
    torch.manual_seed(123)
    assert torch.equal(first, ops.uniform(None, (4,)))
    assert not torch.equal(ops.uniform(None, (4,)), ops.uniform(None, (4,)))
