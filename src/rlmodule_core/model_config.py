"""DefaultModelConfig: the knobs of the default modules and the model catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DefaultModelConfig"]


@dataclass
class DefaultModelConfig:
    """Configures the default modules (PPO, DQN, SAC) and the model catalog.

    Field names and defaults follow RLlib's ``DefaultModelConfig``. Initializers are given
    by name (see ``rlmodule_core.nn.initializers``) so the config stays JSON.

    Example:
        >>> from rlmodule_core import DefaultModelConfig, RLModuleSpec
        >>> config = DefaultModelConfig(fcnet_hiddens=[64, 64], vf_share_layers=False)
        >>> spec = RLModuleSpec(module_class=DefaultPPORLModule, model_config=config, ...)
    """

    # Fully connected encoder (1-D observations).
    fcnet_hiddens: list[int] = field(default_factory=lambda: [256, 256])
    fcnet_activation: str = "tanh"
    fcnet_use_layernorm: bool = False
    fcnet_kernel_initializer: str | None = None
    fcnet_kernel_initializer_kwargs: dict[str, Any] | None = None
    fcnet_bias_initializer: str | None = None
    fcnet_bias_initializer_kwargs: dict[str, Any] | None = None

    # Convolutional encoder (image observations, NHWC): [[out_channels, kernel, stride], ...].
    conv_filters: list[list[Any]] | None = None
    conv_activation: str = "relu"
    conv_kernel_initializer: str | None = None
    conv_kernel_initializer_kwargs: dict[str, Any] | None = None
    conv_bias_initializer: str | None = None
    conv_bias_initializer_kwargs: dict[str, Any] | None = None

    # Heads (policy, value, Q) on top of the encoder.
    head_fcnet_hiddens: list[int] = field(default_factory=list)
    head_fcnet_activation: str = "relu"
    head_fcnet_kernel_initializer: str | None = None
    head_fcnet_kernel_initializer_kwargs: dict[str, Any] | None = None
    head_fcnet_bias_initializer: str | None = None
    head_fcnet_bias_initializer_kwargs: dict[str, Any] | None = None

    # Continuous actions.
    free_log_std: bool = False
    log_std_clip_param: float = 20.0

    # Value function.
    vf_share_layers: bool = True

    # Recurrence.
    use_lstm: bool = False
    max_seq_len: int = 20
    lstm_cell_size: int = 256
    lstm_use_prev_action: bool = False
    lstm_use_prev_reward: bool = False
    lstm_kernel_initializer: str | None = None
    lstm_kernel_initializer_kwargs: dict[str, Any] | None = None
    lstm_bias_initializer: str | None = None
    lstm_bias_initializer_kwargs: dict[str, Any] | None = None
