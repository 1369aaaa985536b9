"""03 - One module, every framework: the same class and seed give the same outputs everywhere.

Initial weights are drawn once in NumPy from model_config["seed"], so the module is
bit-identical on each backend; only the framework doing the arithmetic changes.

Run: python examples/03_one_module_every_framework.py   (uses whichever backends are installed)
"""

import importlib.util

import gymnasium as gym
import numpy as np

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.modules import DefaultPPORLModule

# Import torch before tensorflow when both are installed (their native libraries clash otherwise).
if importlib.util.find_spec("torch"):
    import torch  # noqa: F401

obs = np.random.default_rng(0).uniform(-1, 1, (3, 4)).astype(np.float32)
outputs = {}
# Every installed backend that computes (the ONNX backend only exports graphs).
for framework in [fw for fw in rlm.available_backends() if rlm.get_backend(fw).computes]:
    module = rlm.RLModuleSpec(
        module_class=DefaultPPORLModule,
        observation_space=gym.spaces.Box(-1.0, 1.0, (4,), np.float32),
        action_space=gym.spaces.Discrete(2),
        model_config={"fcnet_hiddens": [32, 32], "seed": 7},
        framework=framework,  # the one field that changes
    ).build()
    logits = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    outputs[framework] = np.asarray(module.backend.ops.to_numpy(logits))
    print(f"{framework:>6}: a {module.backend.RLModule.__name__:<14} logits[0] = {outputs[framework][0]}")

reference = outputs["numpy"]
for framework, value in outputs.items():
    np.testing.assert_allclose(value, reference, atol=1e-5, err_msg=f"{framework} differs from numpy")
print(f"all {len(outputs)} backends agree to 1e-5")
