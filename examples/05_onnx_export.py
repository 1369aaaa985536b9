"""05 - ONNX export: train a policy, export it and play it with ONNX Runtime alone (no framework, no rlmodule).

Trains PPO on CartPole briefly with torch, exports the run's checkpoint with
``rlm.export_onnx`` (the same as ``rlmodule export RUN policy.onnx --with-actions``), then
plays episodes in a fresh process that imports only onnxruntime, numpy and gymnasium,
and checks that no framework was imported there. The ONNX actions are also compared
with the NumPy backend's greedy actions on the same observations.

Run: python examples/05_onnx_export.py   (needs the torch and onnx extras and onnxruntime)
"""

import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import onnxruntime as ort

import rlmodule_core as rlm
from rlmodule_core.train.loop import train

work = tempfile.mkdtemp()
run = train("ppo", "CartPole-v1", framework="torch", seed=0, steps=8192, out=f"{work}/run",
            eval_every=8192, eval_episodes=5, progress=False)
print(f"trained {run.env_steps:,} env steps on torch (greedy return {run.final_eval_return:.0f})")

# A run directory, a learner checkpoint or a module checkpoint: all export the policy.
path = rlm.export_onnx(run.out, f"{work}/policy.onnx", with_actions=True)
print(f"exported {path}")

play = textwrap.dedent(f"""
    import sys
    import gymnasium as gym
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession({path!r}, providers=["CPUExecutionProvider"])
    env = gym.make("CartPole-v1")
    returns = []
    for episode in range(5):
        obs, _ = env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            (action,) = session.run(["actions"], {{"obs": obs[None].astype(np.float32)}})
            obs, reward, terminated, truncated, _ = env.step(int(action[0]))
            total, done = total + reward, terminated or truncated
        returns.append(total)
    frameworks = [m for m in ("torch", "tensorflow", "jax", "rlmodule_core") if m in sys.modules]
    assert not frameworks, f"imported {{frameworks}}"
    print(f"onnxruntime-only process: 5 episodes, mean return {{np.mean(returns):.0f}}; "
          "no framework (and no rlmodule) imported")
""")
subprocess.run([sys.executable, "-c", play], check=True)

# The graph's actions are the NumPy backend's greedy actions on the same observations.
policy = rlm.RLModule.from_checkpoint(f"{run.out}/checkpoint/module", framework="numpy", inference_only=True)
obs = np.random.default_rng(0).uniform(-1, 1, (256, 4)).astype(np.float32)
want = np.argmax(policy.forward_inference({"obs": obs})["action_dist_inputs"], axis=-1)
got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(["actions"], {"obs": obs})[0]
assert np.array_equal(got, want), "ONNX actions differ from the NumPy backend's"
print("ONNX Runtime's actions equal the NumPy backend's on 256 sampled observations")
