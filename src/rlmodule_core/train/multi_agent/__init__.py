"""Multi-agent training: a MultiRLModule, a policy mapping, PPO and DQN over per-agent data.

``rlmodule train`` dispatches here when the env is multi-agent (``MultiAgentCartPole-v1``,
``pettingzoo:<module>``); see ``docs/multi-agent.md``.
"""

from rlmodule_core.train.multi_agent.base import MultiAgentAlgorithm
from rlmodule_core.train.multi_agent.dqn import MultiAgentDQN
from rlmodule_core.train.multi_agent.env_runner import MultiAgentEnvRunner
from rlmodule_core.train.multi_agent.mapping import MultiAgentConfig, PolicyMapping, build_mapping
from rlmodule_core.train.multi_agent.postprocessing import segments_gae
from rlmodule_core.train.multi_agent.ppo import MultiAgentPPO

#: Multi-agent algorithms by the name the command line uses.
MULTI_AGENT_ALGORITHMS: dict[str, type[MultiAgentAlgorithm]] = {"ppo": MultiAgentPPO, "dqn": MultiAgentDQN}

__all__ = [
    "MULTI_AGENT_ALGORITHMS", "MultiAgentAlgorithm", "MultiAgentConfig", "MultiAgentDQN", "MultiAgentEnvRunner",
    "MultiAgentPPO", "PolicyMapping", "build_mapping", "segments_gae",
]
