"""The private torch fast path (``_fastpath.py``) and its environment-variable opt-out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from rlmodule_torch import _fastpath, ops
from rlmodule_torch import nn as tnn
from torch.nn.utils import parametrize

# Builds the default PPO module, runs one forward pass and reports what the fast path did.
_PROBE = """
import json
import gymnasium as gym
import numpy as np
import torch
from rlmodule_torch import _fastpath
from rlmodule_core import RLModuleSpec
from rlmodule_core.modules import DefaultPPORLModule

spec = RLModuleSpec(module_class=DefaultPPORLModule, framework="torch", model_config={"seed": 3},
                    observation_space=gym.spaces.Box(-1, 1, (4,), np.float32),
                    action_space=gym.spaces.Discrete(2))
module = spec.build()
calls = []
original = torch.nn.Module.__call__
def counting_call(self, *args, **kwargs):
    calls.append(type(self).__name__)
    return original(self, *args, **kwargs)
torch.nn.Module.__call__ = counting_call
obs = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
out = module.forward_inference({"obs": obs})["action_dist_inputs"]
print(json.dumps({
    "fast_calls": _fastpath.FAST_CALLS,
    "mirrored": [k for k, v in vars(module).items() if isinstance(v, torch.nn.Module)],
    "standard_calls": len(calls),
    "out": out.tolist(),
}))
"""


def _probe(value: str | None) -> dict:
    env = dict(os.environ)
    env.pop("RLMODULE_TORCH_FASTPATH", None)
    if value is not None:
        env["RLMODULE_TORCH_FASTPATH"] = value
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_opt_out_uses_torchs_standard_call_and_lookup_with_the_same_outputs():
    default, off = _probe(None), _probe("0")
    assert default["fast_calls"] is True and default["mirrored"] and default["standard_calls"] == 0
    assert off["fast_calls"] is False and off["mirrored"] == []
    assert off["standard_calls"] > 0  # every layer and block went through nn.Module.__call__
    assert off["out"] == default["out"]


def test_an_unknown_opt_out_value_names_the_accepted_ones():
    env = dict(os.environ, RLMODULE_TORCH_FASTPATH="maybe")
    done = subprocess.run([sys.executable, "-c", "import rlmodule_torch"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    assert "RLMODULE_TORCH_FASTPATH='maybe'" in done.stderr and "0/false/no/off" in done.stderr


# ---- the in-process fast paths keep torch's semantics --------------------------------------

X = torch.linspace(-1, 1, 8).reshape(2, 4)


class _Double(torch.nn.Module):
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return 2 * weight


def test_dense_reads_a_parametrized_weight():
    layer = tnn.Dense(4, 3)
    weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    parametrize.register_parametrization(layer, "weight", _Double())
    torch.testing.assert_close(layer(X), F.linear(X, 2 * weight, bias))


def test_dense_reads_tensors_swapped_in_by_functional_call():
    layer = tnn.Dense(4, 3, activation="tanh")
    weight, bias = torch.ones(3, 4), torch.full((3,), 0.5)
    out = torch.func.functional_call(layer, {"weight": weight, "bias": bias}, (X,))
    torch.testing.assert_close(out, torch.tanh(F.linear(X, weight, bias)))
    torch.testing.assert_close(layer(X), torch.tanh(F.linear(X, layer.weight, layer.bias)))  # restored


def test_dense_without_bias_and_with_a_replaced_parameter():
    layer = tnn.Dense(4, 3, use_bias=False)
    torch.testing.assert_close(layer(X), X @ layer.weight.T)
    layer.weight = torch.nn.Parameter(torch.ones(3, 4))
    torch.testing.assert_close(layer(X), X @ torch.ones(4, 3))


@pytest.mark.skipif(not _fastpath.FAST_CALLS, reason="the fast call is turned off by the environment")
def test_module_calls_take_torchs_standard_call_while_torch_says_it_compiles(monkeypatch):
    layer = tnn.Dense(4, 3)
    calls = []
    original = torch.nn.Module.__call__

    def counting_call(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", counting_call)
    want = layer(X)
    assert calls == []  # the fast call: straight to forward
    monkeypatch.setattr(torch.compiler, "_is_compiling_flag", True)  # as export and compiles set it
    assert torch.compiler.is_compiling()
    torch.testing.assert_close(layer(X), want)
    assert calls == ["Dense"]


def test_reshape_returns_a_tensor_of_that_shape_itself_and_reshapes_the_rest():
    x = torch.zeros(1, 4)
    assert ops.reshape(x, (-1, 4)) is x and ops.reshape(x, (1, 4)) is x
    assert ops.reshape(x, (-1, 2)).shape == (2, 2)
    assert ops.reshape(x, (4, -1)).shape == (4, 1)
    assert ops.reshape(torch.zeros(4), (-1, 4)).shape == (1, 4)
    assert ops.reshape(torch.zeros(2, 3), [3, 2]).shape == (3, 2)
    with pytest.raises(RuntimeError):
        ops.reshape(torch.zeros(2, 3), (4, -1))
    converted = ops.reshape(torch.zeros(2, 2).numpy(), (-1,))
    assert isinstance(converted, torch.Tensor) and converted.shape == (4,)
    assert ops.cast(x, "float32") is x and ops.cast(x, "int64").dtype == torch.int64
