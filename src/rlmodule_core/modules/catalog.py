"""The model catalog: encoders and heads from DefaultModelConfig and the spaces.

Everything here is a neutral ``Block``, so it binds to the
backend of the module whose ``setup()`` builds it. Observations map to encoders:

- 1-D ``Box``: an MLP (``fcnet_hiddens``, ``fcnet_activation``, ``fcnet_use_layernorm``).
- Image ``Box`` (H, W, C): a CNN (``conv_filters``; defaults for 84x84, 64x64, 42x42),
  flattened, then the MLP.
- ``Discrete`` / ``MultiDiscrete`` / ``MultiBinary``: one-hot (or 0/1) features, then the MLP.
- ``Dict`` / ``Tuple``: one feature block per component, concatenated, then the MLP.
- ``use_lstm``: the above over (B, T, ...) inputs, then an LSTM (``lstm_cell_size``),
  optionally fed the previous action and reward.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core.backend import tree
from rlmodule_core.columns import Columns
from rlmodule_core.model_config import DefaultModelConfig
from rlmodule_core.nn import conv
from rlmodule_core.nn.block import Block

__all__ = [
    "action_input_size",
    "Catalog",
    "CNNFeatures",
    "DEFAULT_CONV_FILTERS",
    "DictFeatures",
    "Encoder",
    "FlattenFeatures",
    "MLP",
    "OneHotFeatures",
    "RecurrentEncoder",
    "resolve_config",
]

_DEFAULTS = dataclasses.asdict(DefaultModelConfig())

#: Default conv stacks ([out_channels, kernel, stride], "valid" padding) by image size.
DEFAULT_CONV_FILTERS = {
    84: [[32, 8, 4], [64, 4, 2], [64, 3, 1]],
    64: [[32, 8, 4], [64, 4, 2], [64, 3, 1]],
    42: [[16, 4, 2], [32, 4, 2], [32, 3, 1]],
}


def resolve_config(model_config: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The module's config over DefaultModelConfig's defaults (and a module's own extras)."""
    return {**_DEFAULTS, **(extra or {}), **model_config}


def _init(config: Mapping[str, Any], prefix: str, kind: str) -> Any:
    """``fcnet_kernel_initializer`` + ``..._kwargs`` -> an initializer spec."""
    name = config.get(f"{prefix}_{kind}_initializer")
    kwargs = config.get(f"{prefix}_{kind}_initializer_kwargs")
    if name is None or not kwargs:
        return name
    return {"name": name, **kwargs}


# ---- feature blocks (no hidden layers; they turn one observation component into a vector) --


class FlattenFeatures(Block):
    """A Box component as a flat float vector."""

    def setup(self, shape: tuple[int, ...]):
        self.size = int(np.prod(shape)) if shape else 1

    def forward(self, x):
        return self.ops.reshape(self.ops.cast(x, "float32"), (-1, self.size))


class OneHotFeatures(Block):
    """Discrete (``start`` subtracted) or MultiDiscrete components as concatenated one-hots."""

    def setup(self, nvec: list[int], start: list[int]):
        # Tuples: static attributes must be hashable (Flax NNX) and untracked (Keras).
        self.nvec, self.start = tuple(int(n) for n in nvec), tuple(int(s) for s in start)
        self.size = sum(self.nvec)

    def forward(self, x):
        ops = self.ops
        x = ops.reshape(ops.cast(x, "int64"), (-1, len(self.nvec)))
        parts = [
            ops.one_hot(x[:, i] - s if s else x[:, i], n)
            for i, (n, s) in enumerate(zip(self.nvec, self.start))
        ]
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)


class CNNFeatures(Block):
    """Conv2D stack on NHWC images, flattened."""

    def setup(self, shape: tuple[int, int, int], filters: list, activation: str, kernel_init, bias_init):
        h, w, c = shape
        layers = []
        for spec in filters:
            out, kernel, stride, padding = _conv_spec(spec)
            layers.append(
                self.nn.Conv2D(
                    c, out, kernel, stride, padding, activation=activation,
                    kernel_initializer=kernel_init, bias_initializer=bias_init,
                )
            )
            h, w, c = _conv_out(h, kernel, stride, padding, 0), _conv_out(w, kernel, stride, padding, 1), out
            if h <= 0 or w <= 0:
                raise ValueError(
                    f"conv_filters {filters} shrink the {shape[0]}x{shape[1]} image to nothing "
                    f"(at filter {spec}). Use smaller kernels/strides or 'same' padding."
                )
        layers.append(self.nn.Flatten())
        self.convs = self.nn.Sequential(layers)
        self.size = h * w * c

    def forward(self, x):
        return self.convs(self.ops.cast(x, "float32"))


def _conv_spec(spec) -> tuple[int, Any, Any, str]:
    if not isinstance(spec, list | tuple) or len(spec) not in (3, 4):
        raise ValueError(
            f"Each conv_filters entry must be [out_channels, kernel, stride] (optionally a 4th "
            f"item 'same'/'valid'); received {spec!r}."
        )
    out, kernel, stride = spec[:3]
    padding = spec[3] if len(spec) == 4 else "valid"
    return int(out), kernel, stride, padding


def _conv_out(size: int, kernel, stride, padding: str, axis: int) -> int:
    """Output length along ``axis`` (0: height, 1: width) of one conv_filters entry."""
    k = kernel if isinstance(kernel, int) else kernel[axis]
    s = stride if isinstance(stride, int) else stride[axis]
    return conv.output_size(size, k, s, padding)


class DictFeatures(Block):
    """One feature block per component of a Dict/Tuple space, concatenated in key order."""

    def setup(self, parts: dict[str, Block], sizes: dict[str, int], tuple_space: bool):
        self.parts = self.nn.Dict(parts)
        self.tuple_space = tuple_space
        self.size = sum(sizes.values())

    def forward(self, x):
        if self.tuple_space:
            values = [self.parts[str(i)](x[i]) for i in range(len(self.parts))]
        else:
            values = [self.parts[key](x[key]) for key in self.parts.keys()]
        return values[0] if len(values) == 1 else self.ops.concatenate(values, axis=-1)


# ---- MLPs ---------------------------------------------------------------------------------


class MLP(Block):
    """Dense layers; ``output_dim`` adds a final linear layer (a head)."""

    def setup(
        self,
        in_dim: int,
        hiddens: list[int],
        activation: str,
        *,
        use_layernorm: bool = False,
        kernel_init=None,
        bias_init=None,
        output_dim: int | None = None,
        output_kernel_init=None,
        output_bias_init=None,
    ):
        nn, layers, size = self.nn, [], in_dim
        for hidden in hiddens:
            layers.append(
                nn.Dense(
                    size, hidden, activation=None if use_layernorm else activation,
                    kernel_initializer=kernel_init, bias_initializer=bias_init,
                )
            )
            if use_layernorm:
                layers += [nn.LayerNorm(hidden), nn.Activation(activation)]
            size = hidden
        if output_dim is not None:
            layers.append(
                nn.Dense(
                    size, output_dim,
                    kernel_initializer=output_kernel_init if output_kernel_init is not None else kernel_init,
                    bias_initializer=output_bias_init if output_bias_init is not None else bias_init,
                )
            )
            size = output_dim
        self.layers = nn.List(layers)
        self.size = size

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


# ---- encoders -------------------------------------------------------------------------------


class Encoder(Block):
    """Observation (B, ...) -> embedding (B, D): features, then the fcnet MLP."""

    def setup(self, features: Block, config: Mapping[str, Any]):
        self.features = features
        self.mlp = MLP(
            features.size, list(config["fcnet_hiddens"]), config["fcnet_activation"],
            use_layernorm=config["fcnet_use_layernorm"],
            kernel_init=_init(config, "fcnet", "kernel"), bias_init=_init(config, "fcnet", "bias"),
        )
        self.size = self.mlp.size

    def forward(self, obs):
        return self.mlp(self.features(obs))


class RecurrentEncoder(Block):
    """Observation (B, T, ...) and state {"h", "c"} -> embedding (B, T, H) and next state.

    Optionally concatenates the one-hot (or raw) previous action and the previous reward
    to the features, as ``lstm_use_prev_action`` / ``lstm_use_prev_reward`` ask.
    """

    def setup(self, encoder: Encoder, config: Mapping[str, Any], action_space: gym.Space | None):
        self.encoder = encoder
        action_size = action_input_size(action_space)
        self.discrete_actions = int(action_space.n) if isinstance(action_space, gym.spaces.Discrete) else 0
        self.use_prev_action = bool(config["lstm_use_prev_action"])
        self.use_prev_reward = bool(config["lstm_use_prev_reward"])
        self.action_size = action_size
        in_size = encoder.size + (action_size if self.use_prev_action else 0) + int(self.use_prev_reward)
        self.lstm = self.nn.LSTM(in_size, int(config["lstm_cell_size"]))
        self.size = int(config["lstm_cell_size"])

    def forward(self, batch, state):
        ops = self.ops
        obs = batch[Columns.OBS]
        b, t = _leading_dims(obs, ops)
        flat = tree.map_leaves(lambda x: ops.reshape(x, (b * t, *ops.shape(x)[2:])), obs)
        x = ops.reshape(self.encoder(flat), (b, t, self.encoder.size))
        extra = []
        if self.use_prev_action:
            prev = batch[Columns.PREV_ACTIONS]
            if self.discrete_actions:
                prev = ops.one_hot(ops.cast(prev, "int64"), self.discrete_actions)
            extra.append(ops.reshape(ops.cast(prev, "float32"), (b, t, self.action_size)))
        if self.use_prev_reward:
            extra.append(ops.reshape(ops.cast(batch[Columns.PREV_REWARDS], "float32"), (b, t, 1)))
        if extra:
            x = ops.concatenate([x, *extra], axis=-1)
        return self.lstm(x, state)


def _leading_dims(obs, ops) -> tuple[int, int]:
    shape = ops.shape(tree.first_leaf(obs))
    if len(shape) < 2:
        raise ValueError(
            f"A recurrent module expects observations shaped (B, T, ...); received shape {shape}. "
            "Add a time axis (e.g. obs[:, None]) and pass Columns.STATE_IN."
        )
    return shape[0], shape[1]


# ---- the catalog ------------------------------------------------------------------------------


class Catalog:
    """Builds encoders and heads for the given spaces and config.

    Call its ``build_*`` methods inside a module's ``setup()`` so the blocks bind to the
    module's backend.

    Example:
        >>> def setup(self):
        ...     catalog = Catalog(self.observation_space, self.action_space, self.model_config)
        ...     self.encoder = catalog.build_encoder()
        ...     self.pi = catalog.build_head(catalog.latent_size, out_dim=2)
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space | None, model_config: Mapping[str, Any]):
        self.observation_space = observation_space
        self.action_space = action_space
        self.config = resolve_config(model_config)
        self.use_lstm = bool(self.config["use_lstm"])
        # Fail here, at build, with the space named, rather than deep inside a forward pass.
        self._check_space(observation_space, "observation_space")

    @property
    def latent_size(self) -> int:
        """The encoder output size."""
        if self.use_lstm:
            return int(self.config["lstm_cell_size"])
        if not self.config["fcnet_hiddens"]:
            return self._feature_size(self.observation_space)
        return int(self.config["fcnet_hiddens"][-1])

    def build_encoder(self) -> Block:
        """An ``Encoder`` (B, ...) -> (B, D), or a ``RecurrentEncoder`` when ``use_lstm``."""
        encoder = Encoder(self.build_features(self.observation_space), self.config)
        if not self.use_lstm:
            return encoder
        return RecurrentEncoder(encoder, self.config, self.action_space)

    def build_features(self, space: gym.Space) -> Block:
        """The feature block of one (possibly nested) observation space."""
        if isinstance(space, gym.spaces.Box):
            if len(space.shape) == 3:
                return CNNFeatures(
                    space.shape, self._conv_filters(space.shape), self.config["conv_activation"],
                    _init(self.config, "conv", "kernel"), _init(self.config, "conv", "bias"),
                )
            return FlattenFeatures(space.shape)
        if isinstance(space, gym.spaces.Discrete):
            return OneHotFeatures([space.n], [space.start])
        if isinstance(space, gym.spaces.MultiDiscrete):
            return OneHotFeatures(list(space.nvec.ravel()), list(np.ravel(space.start)))
        if isinstance(space, gym.spaces.MultiBinary):
            return FlattenFeatures(tuple(np.atleast_1d(space.n)))
        if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
            items = space.spaces.items() if isinstance(space, gym.spaces.Dict) else enumerate(space.spaces)
            parts = {str(key): self.build_features(sub) for key, sub in items}
            return DictFeatures(parts, {k: p.size for k, p in parts.items()}, isinstance(space, gym.spaces.Tuple))
        raise self._unsupported(space, "observation_space")

    def _feature_size(self, space: gym.Space) -> int:
        if isinstance(space, gym.spaces.Box) and len(space.shape) != 3:
            return int(np.prod(space.shape)) if space.shape else 1
        if isinstance(space, gym.spaces.Discrete):
            return int(space.n)
        if isinstance(space, gym.spaces.MultiDiscrete):
            return int(space.nvec.sum())
        if isinstance(space, gym.spaces.MultiBinary):
            return int(np.prod(np.atleast_1d(space.n)))
        if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
            subs = space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces
            return sum(self._feature_size(s) for s in subs)
        h, w, c = space.shape
        for out, kernel, stride, padding in map(_conv_spec, self._conv_filters(space.shape)):
            h, w, c = _conv_out(h, kernel, stride, padding, 0), _conv_out(w, kernel, stride, padding, 1), out
        return h * w * c

    def build_head(
        self, in_dim: int, out_dim: int, *, output_kernel_init: Any = None, output_bias_init: Any = None
    ) -> MLP:
        """A head MLP (``head_fcnet_*``) ending in a linear layer of ``out_dim``."""
        c = self.config
        return MLP(
            in_dim, list(c["head_fcnet_hiddens"]), c["head_fcnet_activation"],
            kernel_init=_init(c, "head_fcnet", "kernel"), bias_init=_init(c, "head_fcnet", "bias"),
            output_dim=out_dim,
            output_kernel_init=_init(c, "head_fcnet", "kernel") or output_kernel_init,
            output_bias_init=output_bias_init,
        )

    def _conv_filters(self, shape: tuple[int, ...]) -> list:
        filters = self.config["conv_filters"]
        if filters is not None:
            return [list(f) for f in filters]
        h, w, _ = shape
        if h == w and h in DEFAULT_CONV_FILTERS:
            return DEFAULT_CONV_FILTERS[h]
        raise ValueError(
            f"No default conv_filters for {h}x{w} images (defaults exist for "
            f"{', '.join(f'{s}x{s}' for s in DEFAULT_CONV_FILTERS)}). Set model_config "
            "conv_filters=[[out_channels, kernel, stride], ...]."
        )

    def _check_space(self, space: gym.Space, name: str) -> None:
        if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
            subs = space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces
            for sub in subs:
                self._check_space(sub, name)
        elif not isinstance(space, gym.spaces.Box | gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.MultiBinary):
            raise self._unsupported(space, name)
        elif isinstance(space, gym.spaces.Box) and len(space.shape) == 3:
            self._conv_filters(space.shape)

    @staticmethod
    def _unsupported(space: gym.Space, name: str) -> ValueError:
        return ValueError(
            f"The default catalog cannot encode {name} {space!r}. Supported: Box (1-D vectors, "
            "or (H, W, C) images), Discrete, MultiDiscrete, MultiBinary, and Dict/Tuple of "
            "these. Wrap the environment to convert the space, or write your own module."
        )


def action_input_size(space: gym.Space | None) -> int:
    """Size of the previous-action input: one-hot for Discrete, flat for Box."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.sum())
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    return 0
