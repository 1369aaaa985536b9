"""Reference algorithms whose losses are written once against ``ops``: PPO and DQN."""

from rlmodule_core.train.algorithms.base import Algorithm
from rlmodule_core.train.algorithms.dqn import DQN, DQNConfig, DQNLearner
from rlmodule_core.train.algorithms.ppo import PPO, PPOConfig, PPOLearner, compute_gae

#: Algorithms by the name the command line uses.
ALGORITHMS: dict[str, type[Algorithm]] = {"ppo": PPO, "dqn": DQN}

__all__ = [
    "ALGORITHMS", "DQN", "PPO", "Algorithm", "DQNConfig", "DQNLearner", "PPOConfig", "PPOLearner",
    "compute_gae",
]
