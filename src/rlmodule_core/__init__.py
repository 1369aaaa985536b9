"""rlmodule-core: RL modules with RLlib's RLModule API, on any framework.

Importing this package imports no framework; backends load on first use.

Example:
    >>> import rlmodule_core as rlm
    >>> spec = rlm.RLModuleSpec(module_class=MyModule, observation_space=obs_space,
    ...                         action_space=act_space, framework="numpy")
    >>> module = spec.build()
"""

from rlmodule_core._version import __version__
from rlmodule_core.backend.registry import available_backends, get_backend, register_backend
from rlmodule_core.checkpoint import CheckpointError, register_module_class
from rlmodule_core.columns import Columns
from rlmodule_core.model_config import DefaultModelConfig
from rlmodule_core.multi_rl_module import DEFAULT_MODULE_ID, MultiRLModule
from rlmodule_core.nn.block import Block
from rlmodule_core.onnx_export import export_onnx
from rlmodule_core.rl_module import RLModule, StateMismatch
from rlmodule_core.spec import MultiRLModuleSpec, RLModuleSpec

__all__ = [
    "Block",
    "CheckpointError",
    "Columns",
    "DEFAULT_MODULE_ID",
    "DefaultModelConfig",
    "MultiRLModule",
    "MultiRLModuleSpec",
    "RLModule",
    "RLModuleSpec",
    "StateMismatch",
    "__version__",
    "available_backends",
    "export_onnx",
    "get_backend",
    "register_backend",
    "register_module_class",
]
