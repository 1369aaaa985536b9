"""The private torch fast path (``_fastpath.py``) and its environment-variable opt-out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
