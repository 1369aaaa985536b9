"""Learner: losses per module, the gradient step through the backend, target syncing.

The Learner is neutral. Algorithms subclass it and implement
``compute_loss_for_module`` against ``ops``; each backend supplies only the gradient
step (``Backend.make_optimizer``: torch.optim, Keras optimizers, optax).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rlmodule_core.apis import SelfSupervisedLossAPI, TargetNetworkAPI
from rlmodule_core.backend.contract import check_optimizer
from rlmodule_core.checkpoint import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_FILE,
    CheckpointError,
    algorithm_of,
    atomic_directory,
    class_path,
    inside,
    load_state_file,
    read_metadata,
    save_state_file,
    to_json_value,
    verify_checkpoint,
    write_metadata,
)
from rlmodule_core.multi_rl_module import DEFAULT_MODULE_ID, MultiRLModule
from rlmodule_core.rl_module import RLModule

__all__ = ["LEARNER_STATE_FILE", "Learner", "LearnerConfig", "config_from_json"]

LEARNER_STATE_FILE = "learner_state.safetensors"
#: The sub-directory holding the learner's module checkpoint.
MODULE_DIR = "module"


@dataclasses.dataclass
class LearnerConfig:
    """Optimization settings every learner has; algorithm configs extend it.

    Attributes:
        lr: Adam learning rate.
        grad_clip: clip the global gradient norm to this (None: no clipping).
        adam_eps: Adam's epsilon.
        tau: polyak coefficient of target-network syncs (1.0: hard copy).
        target_update_frequency: updates between two target syncs.
    """

    lr: float = 3e-4
    grad_clip: float | None = None
    adam_eps: float = 1e-8
    tau: float = 1.0
    target_update_frequency: int = 1


class Learner:
    """Trains a module (or each module of a MultiRLModule) with one optimizer per module.

    Subclasses implement ``compute_loss_for_module``; a module that implements
    ``SelfSupervisedLossAPI`` computes its own loss instead. Target networks are made
    once when the learner is built and synced every ``target_update_frequency`` updates.

    Example:
        >>> class MyLearner(Learner):
        ...     def compute_loss_for_module(self, *, module_id, config, batch, fwd_out, module):
        ...         ops = module.ops
        ...         return ops.mean(ops.square(fwd_out["pred"] - batch["target"]))
        >>> learner = MyLearner(module, LearnerConfig(lr=1e-3))
        >>> metrics = learner.update(batch)     # {"loss": ..., "grad_norm": ...}
    """

    def __init__(self, module: RLModule, config: LearnerConfig | None = None) -> None:
        if not isinstance(module, RLModule):
            raise ValueError(f"Learner expects an RLModule or MultiRLModule; received {type(module).__name__}.")
        self.module = module
        self.config = config if config is not None else LearnerConfig()
        self._multi = isinstance(module, MultiRLModule)
        modules = dict(module.items()) if self._multi else {DEFAULT_MODULE_ID: module}
        for module_id, sub in modules.items():
            if sub.inference_only:
                raise ValueError(
                    f"Module {module_id!r} is inference-only and cannot be trained. Build it with "
                    "inference_only=False for the learner."
                )
            if isinstance(sub, TargetNetworkAPI) and not any("target" in k for k in sub.get_state()):
                sub.make_target_networks()
        self._modules = modules
        self._optimizers = {}
        for module_id, sub in modules.items():
            optimizer = sub.backend.make_optimizer(
                sub, lr=self.config.lr, grad_clip=self.config.grad_clip, eps=self.config.adam_eps
            )
            check_optimizer(optimizer, sub.backend.name)
            self._optimizers[module_id] = optimizer
        self.num_updates = 0

    # ---- losses ---------------------------------------------------------------------------
    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any], module: RLModule
    ) -> Any:
        """The loss of one module: a scalar tensor, or ``(loss, {name: scalar tensor})``.

        ``module`` is the module to differentiate through (on JAX a traced view of
        ``self.module``): use it, not ``self.module``, inside the loss.
        """
        raise NotImplementedError(f"{type(self).__qualname__} must implement compute_loss_for_module.")

    def _loss(self, module_id: str, module: RLModule, batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        fwd_out = module.forward_train(batch)
        if isinstance(module, SelfSupervisedLossAPI):
            result = module.compute_self_supervised_loss(
                learner=self, module_id=module_id, config=self.config, batch=batch, fwd_out=fwd_out
            )
        else:
            result = self.compute_loss_for_module(
                module_id=module_id, config=self.config, batch=batch, fwd_out=fwd_out, module=module
            )
        return result if isinstance(result, tuple) else (result, {})

    # ---- updates --------------------------------------------------------------------------
    def update(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """One gradient step per module on ``batch`` (``{module_id: batch}`` for a MultiRLModule).

        Returns the metrics (a dict of floats; ``{module_id: metrics}`` for a MultiRLModule).
        """
        batches = self._split(batch)
        metrics = {
            module_id: self._optimizers[module_id].update(functools.partial(self._loss, module_id), sub_batch)
            for module_id, sub_batch in batches.items()
        }
        self.num_updates += 1
        if self.num_updates % self.config.target_update_frequency == 0:
            self.sync_targets()
        return metrics if self._multi else metrics[DEFAULT_MODULE_ID]

    def _split(self, batch: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        if not self._multi:
            return {DEFAULT_MODULE_ID: batch}
        unknown = [mid for mid in batch if mid not in self._modules]
        if unknown:
            raise KeyError(f"Unknown module IDs {unknown} in the batch; available: {sorted(self._modules)}.")
        return dict(batch)

    def sync_targets(self, tau: float | None = None) -> None:
        """Polyak-updates every ``(main, target)`` pair of every module with ``tau``."""
        tau = self.config.tau if tau is None else tau
        for sub in self._modules.values():
            if isinstance(sub, TargetNetworkAPI):
                for main, target in sub.get_target_network_pairs():
                    sub.backend.update_target_network(main, target, tau)

    @property
    def learning_rate(self) -> float:
        return next(iter(self._optimizers.values())).learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        for optimizer in self._optimizers.values():
            optimizer.learning_rate = value

    # ---- state ----------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Module weights, optimizer states and the update count."""
        return {
            "module": self.module.get_state(),
            "optimizers": {mid: opt.get_state() for mid, opt in self._optimizers.items()},
            "num_updates": self.num_updates,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restores ``get_state``'s result (training then continues exactly)."""
        self.module.set_state(state["module"])
        for module_id, opt_state in state["optimizers"].items():
            self._optimizers[module_id].set_state(opt_state)
        self.num_updates = int(state["num_updates"])

    def save_to_path(self, path: str | os.PathLike, *, extra: Mapping[str, Any] | None = None) -> str:
        """Writes ``path/module`` (a module checkpoint) and the optimizer state, atomically.

        ``extra`` is JSON stored in the metadata (e.g. an algorithm's counters).
        """
        target = Path(path)
        with atomic_directory(target) as tmp:
            # The module's files go straight into this directory (no nested atomic save),
            # and every writer returns the digest of what it wrote: nothing is read back.
            (tmp / MODULE_DIR).mkdir()
            files = {f"{MODULE_DIR}/{METADATA_FILE}": self.module._write_checkpoint(tmp / MODULE_DIR, None)}
            flat = {
                f"{mid}/{key}": value
                for mid, opt in self._optimizers.items()
                for key, value in opt.get_state().items()
            }
            files[LEARNER_STATE_FILE] = save_state_file(tmp / LEARNER_STATE_FILE, flat)
            write_metadata(
                tmp,
                {
                    "format": FORMAT_NAME,
                    "format_version": FORMAT_VERSION,
                    "kind": "learner",
                    "class": class_path(type(self)),
                    "config": to_json_value(dataclasses.asdict(self.config), "config"),
                    "num_updates": self.num_updates,
                    "extra": to_json_value(dict(extra or {}), "extra"),
                },
                files,
            )
        return str(target.absolute())

    def restore_from_path(self, path: str | os.PathLike) -> dict[str, Any]:
        """Loads a ``save_to_path`` directory into this learner; returns its ``extra``."""
        directory = Path(path)
        metadata = read_metadata(directory, verify=False)
        if metadata.get("kind") != "learner":
            raise CheckpointError(
                f"{directory} is not a learner checkpoint (kind {metadata.get('kind')!r}); "
                "it was not written by Learner.save_to_path."
            )
        # Every file is checked against its checksum as it is read, and read once: the
        # optimizer state first, then the module (which changes nothing if it fails).
        module_meta = f"{MODULE_DIR}/{METADATA_FILE}"
        missing = sorted({module_meta, LEARNER_STATE_FILE} - set(metadata["files"]))
        if missing:
            raise CheckpointError(
                f"{directory / METADATA_FILE}: field 'files' must list {missing} (a learner "
                "checkpoint's module and optimizer state); the checkpoint was altered."
            )
        verify_checkpoint(directory, metadata, skip=(module_meta, LEARNER_STATE_FILE))
        algorithm = algorithm_of(metadata)
        flat = load_state_file(
            directory / LEARNER_STATE_FILE, digest=metadata["files"][LEARNER_STATE_FILE], algorithm=algorithm
        )
        module_dir = inside(directory, MODULE_DIR, f"{directory / METADATA_FILE}: kind 'learner'")
        self.module._restore_checkpoint(module_dir, None, (algorithm, metadata["files"][module_meta]))
        states: dict[str, dict[str, np.ndarray]] = {mid: {} for mid in self._optimizers}
        for key, value in flat.items():
            module_id, _, name = key.partition("/")
            if module_id not in states:
                raise CheckpointError(f"{directory} has optimizer state for unknown module {module_id!r}.")
            states[module_id][name] = value
        for module_id, opt_state in states.items():
            self._optimizers[module_id].set_state(opt_state)
        self.num_updates = int(metadata["num_updates"])
        return metadata.get("extra", {})


def config_from_json(cls: type, path_or_dict: str | os.PathLike | Mapping[str, Any]) -> Any:
    """A config dataclass from a dict or a ``.json``/``.toml`` file; unknown keys are an error."""
    if isinstance(path_or_dict, Mapping):
        values = dict(path_or_dict)
    else:
        path = Path(path_or_dict)
        if not path.is_file():
            raise ValueError(f"Config file {str(path)!r} does not exist.")
        if path.suffix == ".toml":
            import tomllib

            values = tomllib.loads(path.read_text())
        elif path.suffix == ".json":
            values = json.loads(path.read_text())
        else:
            raise ValueError(f"Expected a .toml or .json config file; received {str(path)!r}.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"Unknown {cls.__name__} keys {unknown}. Valid keys: {', '.join(sorted(names))}."
        )
    return cls(**values)
