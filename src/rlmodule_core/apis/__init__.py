"""The optional APIs an RLModule implements to work with learners and env runners."""

from rlmodule_core.apis.inference_only import InferenceOnlyAPI
from rlmodule_core.apis.q_net import QNetAPI
from rlmodule_core.apis.self_supervised_loss import SelfSupervisedLossAPI
from rlmodule_core.apis.target_network import TARGET_NETWORK_ACTION_DIST_INPUTS, TargetNetworkAPI
from rlmodule_core.apis.value_function import ValueFunctionAPI

__all__ = [
    "InferenceOnlyAPI",
    "QNetAPI",
    "SelfSupervisedLossAPI",
    "TARGET_NETWORK_ACTION_DIST_INPUTS",
    "TargetNetworkAPI",
    "ValueFunctionAPI",
]
