"""DefaultSACRLModule: a stochastic policy with (twin) Q critics and their targets."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from rlmodule_core.columns import Columns
from rlmodule_core.modules._common import gaussian_inputs
from rlmodule_core.modules.catalog import Catalog, Encoder, resolve_config
from rlmodule_core.rl_module import RLModule

__all__ = ["DefaultSACRLModule", "SAC_DEFAULTS"]

#: model_config keys of the SAC module beyond DefaultModelConfig.
SAC_DEFAULTS: dict[str, Any] = {"twin_q": True}

_CRITICS = ("qf_encoder", "qf", "qf_twin_encoder", "qf_twin")


class DefaultSACRLModule(RLModule, QNetAPI, TargetNetworkAPI, InferenceOnlyAPI):
    """SAC's default module.

    Box actions: a squashed-Gaussian policy over the action bounds, and critics
    Q(obs, action) -> (B,). Discrete actions: a categorical policy, and critics
    Q(obs) -> (B, num_actions). ``twin_q`` (default True) adds a second critic. Critics
    and their targets are training-only: an inference-only build never creates them.

    Outputs: ``ACTION_DIST_INPUTS`` in every phase; train adds
    ``action_dist_inputs_next`` for ``NEXT_OBS`` and, for Box actions with ``ACTIONS`` in
    the batch, ``qf_preds`` / ``qf_twin_preds``. ``compute_q_values`` and
    ``forward_target`` return ``qf_preds`` (and ``qf_twin_preds``).

    Example:
        >>> module = RLModuleSpec(module_class=DefaultSACRLModule, observation_space=obs_space,
        ...                       action_space=gym.spaces.Box(-2, 2, (1,)), framework="jax").build()
        >>> q = module.compute_q_values({Columns.OBS: obs, Columns.ACTIONS: actions})["qf_preds"]
    """

    def setup(self) -> None:
        space = self.action_space
        self._continuous = isinstance(space, gym.spaces.Box) and len(space.shape) == 1
        if not (self._continuous or isinstance(space, gym.spaces.Discrete)):
            raise ValueError(
                f"DefaultSACRLModule needs a 1-D Box or a Discrete action space; received {space!r}."
            )
        config = resolve_config(self.model_config, SAC_DEFAULTS)
        if config["use_lstm"]:
            raise ValueError("DefaultSACRLModule does not support use_lstm=True; set it to False.")
        catalog = Catalog(self.observation_space, space, config)
        latent = catalog.latent_size
        n = int(space.shape[0]) if self._continuous else int(space.n)
        self.pi_encoder = catalog.build_encoder()
        self.pi = catalog.build_head(latent, 2 * n if self._continuous else n,
                                     output_kernel_init={"name": "orthogonal", "gain": 0.01})
        self._twin = bool(config["twin_q"])
        self._log_std_clip = float(config["log_std_clip_param"])
        if self.inference_only:
            return
        for prefix in ("qf", "qf_twin") if self._twin else ("qf",):
            if self._continuous:
                features = catalog.build_features(gym.spaces.Tuple([self.observation_space, space]))
                encoder = Encoder(features, catalog.config)
            else:
                encoder = catalog.build_encoder()
            setattr(self, f"{prefix}_encoder", encoder)
            setattr(self, prefix, catalog.build_head(latent, 1 if self._continuous else n))

    # ---- distributions --------------------------------------------------------------------------
    def get_inference_action_dist_cls(self) -> type:
        from rlmodule_core.distributions import Categorical, SquashedGaussian

        if not self._continuous:
            return Categorical
        low, high = self.action_space.low, self.action_space.high
        if np.all(np.isfinite(low)) and np.all(np.isfinite(high)):
            return SquashedGaussian.with_bounds(low, high)
        return SquashedGaussian

    # ---- forward --------------------------------------------------------------------------------
    def _pi_inputs(self, obs: Any) -> Any:
        logits = self.pi(self.pi_encoder(obs))
        if not self._continuous:
            return logits
        return gaussian_inputs(self.ops, logits, None, self._log_std_clip)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self._pi_inputs(batch[Columns.OBS])}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out = self._forward(batch)
        if Columns.NEXT_OBS in batch:
            out["action_dist_inputs_next"] = self._pi_inputs(batch[Columns.NEXT_OBS])
        if self._continuous and Columns.ACTIONS in batch:
            out.update(self.compute_q_values(batch))
        return out

    # ---- critics ----------------------------------------------------------------------------------
    def _critics(self, batch: dict[str, Any], prefix: str) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        if self._continuous:
            if Columns.ACTIONS not in batch:
                raise KeyError(
                    "SAC critics on Box actions need Columns.ACTIONS in the batch (Q(obs, action))."
                )
            obs = (obs, self.ops.cast(batch[Columns.ACTIONS], "float32"))
        out = {}
        for name in ("qf", "qf_twin") if self._twin else ("qf",):
            q = getattr(self, f"{prefix}{name}")(getattr(self, f"{prefix}{name}_encoder")(obs))
            out[f"{name}_preds"] = self.ops.squeeze(q, -1) if self._continuous else q
        return out

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        return self._critics(batch, "")

    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if not hasattr(self, "_target_qf"):
            raise RuntimeError(
                "DefaultSACRLModule has no target networks yet. Call module.make_target_networks()."
            )
        return self._critics(batch, "_target_")

    def make_target_networks(self) -> None:
        for name in self._critic_names():
            setattr(self, f"_target_{name}", self.backend.make_target_network(getattr(self, name)))

    def get_target_network_pairs(self) -> list[tuple[Any, Any]]:
        return [(getattr(self, n), getattr(self, f"_target_{n}")) for n in self._critic_names()]

    def _critic_names(self) -> tuple[str, ...]:
        if self.inference_only:
            raise RuntimeError("An inference-only SAC module has no critics to make targets of.")
        return _CRITICS if self._twin else _CRITICS[:2]

    def get_non_inference_attributes(self) -> list[str]:
        return [*_CRITICS, *(f"_target_{name}" for name in _CRITICS)]
