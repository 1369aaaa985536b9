"""DefaultDQNRLModule: (dueling, double, distributional) Q-learning, written once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from rlmodule_core.columns import Columns
from rlmodule_core.modules.catalog import Catalog, resolve_config
from rlmodule_core.rl_module import RLModule

__all__ = ["DefaultDQNRLModule", "DQN_DEFAULTS", "epsilon_at"]

#: model_config keys of the DQN module beyond DefaultModelConfig (RLlib's defaults).
DQN_DEFAULTS: dict[str, Any] = {
    "dueling": True,
    "double_q": True,
    "num_atoms": 1,
    "v_min": -10.0,
    "v_max": 10.0,
    "epsilon": [[0, 1.0], [10000, 0.05]],
}


def epsilon_at(schedule: Sequence[Sequence[float]], t: Any, ops: Any = None) -> Any:
    """Piecewise-linear interpolation of ``[[t0, e0], [t1, e1], ...]`` at ``t``, constant outside.

    Written as ``e0 + sum_i clip((t - t_i) / (t_{i+1} - t_i), 0, 1) * (e_{i+1} - e_i)`` so
    it works on Python numbers and on tensors (e.g. a traced step counter) alike.
    """
    eps = float(schedule[0][1])
    for (t0, e0), (t1, e1) in zip(schedule, schedule[1:]):
        span = max(float(t1) - float(t0), 1e-12)
        if isinstance(t, int | float | np.integer | np.floating):
            frac = min(max((float(t) - t0) / span, 0.0), 1.0)
        else:
            frac = ops.clip((ops.cast(t, "float32") - t0) / span, 0.0, 1.0)
        eps = eps + frac * (float(e1) - float(e0))
    return eps


def _check_schedule(schedule: Any) -> tuple[tuple[float, float], ...]:
    if isinstance(schedule, int | float):
        return ((0.0, float(schedule)),)
    try:
        points = tuple((float(t), float(e)) for t, e in schedule)
    except (TypeError, ValueError):
        points = ()
    if not points or any(b[0] < a[0] for a, b in zip(points, points[1:])):
        raise ValueError(
            "model_config['epsilon'] must be a number or [[t0, eps0], [t1, eps1], ...] with "
            f"increasing t; received {schedule!r}."
        )
    return points


class DefaultDQNRLModule(RLModule, QNetAPI, TargetNetworkAPI, InferenceOnlyAPI):
    """DQN's default module: an encoder and a Q head (or value and advantage heads).

    model_config keys beyond DefaultModelConfig: ``dueling``, ``double_q``, ``num_atoms``
    (> 1: distributional over ``linspace(v_min, v_max, num_atoms)``), ``v_min``, ``v_max``,
    ``epsilon`` (a piecewise-linear schedule ``[[t, eps], ...]`` over the ``t=`` passed to
    ``forward_exploration``).

    Outputs: inference ``ACTIONS`` (greedy); exploration ``ACTIONS`` (epsilon-greedy;
    pass ``t=`` and optionally ``rng=``); train ``qf_preds``, ``qf_target_next_preds``,
    ``qf_next_preds`` (``double_q``), and with atoms ``atoms``, ``qf_logits``, ``qf_probs``,
    ``qf_target_next_logits``, ``qf_target_next_probs``. Train needs the target networks:
    call ``make_target_networks()`` first (a Learner does).

    Example:
        >>> module = RLModuleSpec(module_class=DefaultDQNRLModule, observation_space=obs_space,
        ...                       action_space=gym.spaces.Discrete(2),
        ...                       model_config={"fcnet_hiddens": [64], "dueling": True}).build()
        >>> actions = module.forward_exploration({Columns.OBS: obs}, t=500)[Columns.ACTIONS]
    """

    def setup(self) -> None:
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(
                f"DefaultDQNRLModule needs a Discrete action space; received {self.action_space!r}. "
                "Use DefaultSACRLModule or DefaultPPORLModule for continuous actions."
            )
        config = resolve_config(self.model_config, DQN_DEFAULTS)
        if config["use_lstm"]:
            raise ValueError("DefaultDQNRLModule does not support use_lstm=True; set it to False.")
        atoms = int(config["num_atoms"])
        if atoms < 1:
            raise ValueError(f"num_atoms must be >= 1; received {atoms}.")
        catalog = Catalog(self.observation_space, self.action_space, config)
        n, latent = int(self.action_space.n), catalog.latent_size
        self.encoder = catalog.build_encoder()
        if config["dueling"]:
            self.af = catalog.build_head(latent, n * atoms)
            self.vf = catalog.build_head(latent, atoms)
        else:
            self.qf = catalog.build_head(latent, n * atoms)
        self._num_actions, self._num_atoms = n, atoms
        self._dueling, self._double_q = bool(config["dueling"]), bool(config["double_q"])
        self._support = tuple(np.linspace(config["v_min"], config["v_max"], atoms).tolist())
        self._epsilon = _check_schedule(config["epsilon"])

    # ---- networks ---------------------------------------------------------------------------
    def _heads(self) -> tuple[str, ...]:
        return ("encoder", "af", "vf") if self._dueling else ("encoder", "qf")

    def make_target_networks(self) -> None:
        for name in self._heads():
            setattr(self, f"_target_{name}", self.backend.make_target_network(getattr(self, name)))

    def get_target_network_pairs(self) -> list[tuple[Any, Any]]:
        return [(getattr(self, name), getattr(self, f"_target_{name}")) for name in self._heads()]

    def get_non_inference_attributes(self) -> list[str]:
        return [f"_target_{name}" for name in ("encoder", "af", "vf", "qf")]

    def _q(self, obs: Any, prefix: str) -> dict[str, Any]:
        ops, n, atoms = self.ops, self._num_actions, self._num_atoms
        embeddings = getattr(self, f"{prefix}encoder")(obs)
        if self._dueling:
            adv = getattr(self, f"{prefix}af")(embeddings)
            value = getattr(self, f"{prefix}vf")(embeddings)
            if atoms > 1:
                adv = ops.reshape(adv, (-1, n, atoms))
                value = ops.reshape(value, (-1, 1, atoms))
                logits = value + adv - ops.mean(adv, axis=1, keepdims=True)
            else:
                return {"qf_preds": value + adv - ops.mean(adv, axis=-1, keepdims=True)}
        else:
            q = getattr(self, f"{prefix}qf")(embeddings)
            if atoms == 1:
                return {"qf_preds": q}
            logits = ops.reshape(q, (-1, n, atoms))
        probs = ops.softmax(logits, axis=-1)
        support = ops.asarray(np.asarray(self._support, np.float32))
        return {
            "qf_preds": ops.sum(probs * support, axis=-1),
            "atoms": support,
            "qf_logits": logits,
            "qf_probs": probs,
        }

    def _target(self, obs: Any) -> dict[str, Any]:
        if not hasattr(self, "_target_encoder"):
            raise RuntimeError(
                "DefaultDQNRLModule has no target networks yet. Call module.make_target_networks() "
                "(a Learner does this when it is built)."
            )
        return self._q(obs, "_target_")

    # ---- APIs ---------------------------------------------------------------------------------
    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        return self._q(batch[Columns.OBS], "")

    def compute_advantage_distribution(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Advantages per action (and per atom): the ``af`` head when dueling, else Q."""
        if not self._dueling:
            return self.compute_q_values(batch)
        adv = self.af(self.encoder(batch[Columns.OBS]))
        if self._num_atoms == 1:
            return {"qf_preds": adv}
        ops = self.ops
        logits = ops.reshape(adv, (-1, self._num_actions, self._num_atoms))
        return {
            "atoms": ops.asarray(np.asarray(self._support, np.float32)),
            "logits": logits,
            "probs": ops.softmax(logits, axis=-1),
        }

    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._target(batch[Columns.OBS])

    # ---- forward --------------------------------------------------------------------------------
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        q = self.compute_q_values(batch)["qf_preds"]
        return {Columns.ACTIONS: self.ops.argmax(q, axis=-1)}

    def _forward_exploration(
        self, batch: dict[str, Any], t: Any = 0, rng: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        ops = self.ops
        greedy = ops.argmax(self.compute_q_values(batch)["qf_preds"], axis=-1)
        rng = ops.as_rng(rng)
        size = ops.shape(greedy)[0]
        # argmax of uniform noise: a uniformly random action without an integer sampler.
        random_actions = ops.argmax(ops.uniform(rng, (size, self._num_actions)), axis=-1)
        explore = ops.uniform(rng, (size,)) < epsilon_at(self._epsilon, t, ops)
        return {Columns.ACTIONS: ops.where(explore, random_actions, greedy)}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out = self.compute_q_values(batch)
        if Columns.NEXT_OBS in batch:
            target = self._target(batch[Columns.NEXT_OBS])
            for key in ("qf_preds", "qf_logits", "qf_probs"):
                if key in target:
                    out[key.replace("qf_", "qf_target_next_")] = target[key]
            if self._double_q:
                nxt = self._q(batch[Columns.NEXT_OBS], "")
                out["qf_next_preds"] = nxt["qf_preds"]
                if "qf_probs" in nxt:
                    out["qf_next_probs"] = nxt["qf_probs"]
        return out

    @property
    def support(self) -> tuple[float, ...]:
        """The atoms of the value distribution (a single 0-width atom when not distributional)."""
        return self._support

    def epsilon(self, t: int) -> float:
        """The exploration epsilon at step ``t``."""
        return float(epsilon_at(self._epsilon, t))
