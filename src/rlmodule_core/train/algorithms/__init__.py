"""Reference algorithms whose losses are written once against ``ops``: PPO, DQN and SAC."""

from rlmodule_core.train.algorithms.base import Algorithm
from rlmodule_core.train.algorithms.dqn import DQN, DQNConfig, DQNLearner
from rlmodule_core.train.algorithms.ppo import PPO, PPOConfig, PPOLearner, compute_gae
from rlmodule_core.train.algorithms.sac import SAC, SACConfig, SACLearner

#: Algorithms by the name the command line uses.
ALGORITHMS: dict[str, type[Algorithm]] = {"ppo": PPO, "dqn": DQN, "sac": SAC}

__all__ = [
    "ALGORITHMS", "DQN", "PPO", "Algorithm", "DQNConfig", "DQNLearner", "PPOConfig", "PPOLearner",
    "SAC", "SACConfig", "SACLearner", "compute_gae",
]
