"""02 - Deploy without a framework: save a PPO module on torch, act with NumPy alone.

The checkpoint is JSON + safetensors; restoring it with framework="numpy" needs neither
torch nor pickle. The second half runs in a fresh process and checks that torch was
never imported there.

Run: python examples/02_deploy_without_framework.py   (needs the torch extra)
"""

import subprocess
import sys
import tempfile
import textwrap

import gymnasium as gym

import rlmodule_core as rlm
from rlmodule_core.modules import DefaultPPORLModule

env = gym.make("CartPole-v1")
module = rlm.RLModuleSpec(
    module_class=DefaultPPORLModule,
    observation_space=env.observation_space,
    action_space=env.action_space,
    model_config=rlm.DefaultModelConfig(fcnet_hiddens=[64, 64]),
    framework="torch",
).build()
path = module.save_to_path(tempfile.mkdtemp() + "/ppo")
print(f"saved a {module.framework} module to {path}")

deploy = textwrap.dedent(f"""
    import sys
    import gymnasium as gym
    import numpy as np
    import rlmodule_core as rlm

    policy = rlm.RLModule.from_checkpoint({path!r}, framework="numpy", inference_only=True)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        logits = policy.forward_inference({{"obs": obs[None]}})["action_dist_inputs"]
        obs, reward, terminated, truncated, _ = env.step(int(np.argmax(logits)))
        total, done = total + reward, terminated or truncated
    assert "torch" not in sys.modules, "torch was imported"
    print(f"numpy-only process: played an episode (return {{total:.0f}}); torch never imported")
""")
subprocess.run([sys.executable, "-c", deploy], check=True)
