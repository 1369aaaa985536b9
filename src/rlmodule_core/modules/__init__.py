"""Default modules written once for every backend: PPO, DQN, SAC."""

from rlmodule_core.modules.dqn import DefaultDQNRLModule
from rlmodule_core.modules.ppo import DefaultPPORLModule
from rlmodule_core.modules.sac import DefaultSACRLModule

__all__ = ["DefaultDQNRLModule", "DefaultPPORLModule", "DefaultSACRLModule"]
