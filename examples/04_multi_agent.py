"""04 - Multi-agent training: two agents with independent modules, one shared module, and agents with different spaces.

Run: python examples/04_multi_agent.py [framework]   (default: torch; tf and jax work too)

Each part trains briefly (seconds, not to convergence) and prints each module's return;
`rlmodule train --env MultiAgentCartPole-v1 --policies independent` trains to the solve.
"""

import sys
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np

import rlmodule_core as rlm
from rlmodule_core.envs import MultiAgentEnv
from rlmodule_core.train.algorithms import PPOConfig
from rlmodule_core.train.multi_agent import MultiAgentPPO

FRAMEWORK = sys.argv[1] if len(sys.argv) > 1 else "torch"
CONFIG = PPOConfig(lr=3e-3, anneal_lr=False, rollout_length=64, model={"fcnet_hiddens": [32, 32]})


def train(algo, iterations):
    for _ in range(iterations):
        metrics = algo.train_iteration()
    algo.evaluate(3)
    for module_id in algo.module.keys():
        print(f"  module {module_id!r}: training return {metrics[f'{module_id}/episode_return_mean']:.1f}, "
              f"greedy {algo.evaluation_metrics[f'{module_id}/eval_return_mean']:.1f}")


# 1. Independent policies: one module per agent, module ID = agent ID.
print("Two CartPole agents, independent modules:")
algo = MultiAgentPPO(CONFIG, "MultiAgentCartPole-v1", framework=FRAMEWORK, seed=3,
                     env_config={"num_agents": 2}, multi_agent={"policies": "independent"})
assert sorted(algo.module.keys()) == ["agent_0", "agent_1"]
train(algo, 6)
algo.close()

# 2. A shared policy: both agents act through one module (one forward pass per step for both).
print("Two CartPole agents, one shared module:")
algo = MultiAgentPPO(CONFIG, "MultiAgentCartPole-v1", framework=FRAMEWORK, seed=3,
                     env_config={"num_agents": 2}, multi_agent={"policies": "shared"})
assert list(algo.module.keys()) == ["default_policy"]
train(algo, 6)
algo.close()


# 3. Heterogeneous agents: a CartPole agent (4 numbers in, 2 actions) and a Pendulum agent
#    (3 numbers in, a continuous torque) in one env; each leaves when its own episode ends.
class PoleAndPendulum(MultiAgentEnv):
    possible_agents = ["pole", "pendulum"]

    def __init__(self):
        self._envs = {"pole": gym.make("CartPole-v1"), "pendulum": gym.make("Pendulum-v1")}
        self.observation_spaces = {a: e.observation_space for a, e in self._envs.items()}
        self.action_spaces = {a: e.action_space for a, e in self._envs.items()}
        self.agents = []

    def reset(self, *, seed=None, options=None):
        self.agents = list(self.possible_agents)
        obs = {a: self._envs[a].reset(seed=seed)[0] for a in self.agents}
        return obs, {a: {} for a in obs}

    def step(self, actions):
        out = {a: self._envs[a].step(actions[a]) for a in self.agents}
        obs, rewards, terminated, truncated, infos = ({a: o[k] for a, o in out.items()} for k in range(5))
        self.agents = [a for a in self.agents if not (terminated[a] or truncated[a])]
        return obs, rewards, terminated, truncated, infos


print("A CartPole agent and a Pendulum agent (different spaces, so independent modules by default):")
algo = MultiAgentPPO(CONFIG, PoleAndPendulum, framework=FRAMEWORK, seed=0)
print(f"  {algo.module['pole'].action_space} and {algo.module['pendulum'].action_space} in one MultiRLModule")
train(algo, 4)  # 4 x 64 steps: each Pendulum episode (200 steps) ends within the run
with tempfile.TemporaryDirectory() as tmp:
    algo.save_to_path(Path(tmp) / "checkpoint")
    # The run's module checkpoint is the MultiRLModule; each sub-module restores on its own.
    pole = rlm.RLModule.from_checkpoint(Path(tmp) / "checkpoint" / "module" / "pole", inference_only=True)
    out = pole.forward_inference({rlm.Columns.OBS: np.zeros((1, 4), np.float32)})
    print(f"  restored 'pole' alone on {pole.framework}: logits shape {tuple(np.shape(out[rlm.Columns.ACTION_DIST_INPUTS]))}")
algo.close()
