"""MultiRLModule: a dict of RLModules behind one RLModule interface.

The container is framework-free: its sub-modules may even run on different backends.
Forward batches and states are dicts keyed by module ID; a subset of IDs is fine, an
unknown ID raises ``KeyError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlmodule_core.checkpoint import (
    METADATA_FILE,
    RESERVED_NAMES,
    CheckpointError,
    algorithm_of,
    inside,
    module_id_problem,
    read_metadata,
    verify_checkpoint,
    write_metadata,
)
from rlmodule_core.checkpointing import module_metadata
from rlmodule_core.rl_module import RLModule, _as_list, _prepare_from_checkpoint

__all__ = ["DEFAULT_MODULE_ID", "MultiRLModule"]

DEFAULT_MODULE_ID = "default_policy"

def check_module_id(module_id: Any, existing: Iterable[str] = ()) -> str:
    """Returns ``module_id`` if it can name a checkpoint sub-directory, else raises ValueError.

    Refused: anything but 1-128 characters of ``[A-Za-z0-9_.-]`` not starting with ``.``
    or ``-``; the checkpoint's own file names (``metadata.json``,
    ``module_state.safetensors``, in any case); and an ID that equals one of ``existing``
    ignoring case but not exactly (two such directories collide on case-insensitive file
    systems).
    """
    problem = module_id_problem(module_id)
    if problem is None:
        clash = [m for m in existing if m != module_id and m.lower() == module_id.lower()]
        if not clash:
            return module_id
        problem = f"it equals the existing module ID {clash[0]!r} ignoring case"
    suggestion = re.sub(r"[^A-Za-z0-9_.-]", "_", str(module_id))[:128].lstrip(".-") or "module"
    if suggestion.lower() in RESERVED_NAMES or problem.startswith("it equals"):
        suggestion = f"{suggestion}_2"
    raise ValueError(f"Invalid module ID {module_id!r}: {problem}. Try {suggestion!r}.")


def check_module_ids(module_ids: Iterable[Any]) -> None:
    """Checks every ID with ``check_module_id`` against the ones before it."""
    seen: list[str] = []
    for module_id in module_ids:
        seen.append(check_module_id(module_id, seen))


class MultiRLModule(RLModule):
    """A container of RLModules keyed by module ID.

    Example:
        >>> multi = MultiRLModuleSpec(rl_module_specs={"p0": spec0, "p1": spec1}).build()
        >>> multi.add_module("p2", spec2.build())
        >>> out = multi.forward_inference({"p0": batch0, "p2": batch2})   # {"p0": ..., "p2": ...}
        >>> multi.set_state({"p1": state1})                                 # partial update
    """

    _is_container = True

    def __init__(
        self,
        *,
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        inference_only: bool | None = None,
        learner_only: bool | None = None,
        model_config: Mapping[str, Any] | None = None,
        rl_module_specs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._rl_modules: dict[str, RLModule] = {}
        self._rl_module_specs = dict(rl_module_specs or {})
        super().__init__(
            observation_space=observation_space,
            action_space=action_space,
            inference_only=inference_only,
            learner_only=learner_only,
            model_config=model_config,
            **kwargs,
        )

    def setup(self) -> None:
        """Builds one module per spec in ``rl_module_specs``."""
        check_module_ids(self._rl_module_specs)
        for module_id, spec in self._rl_module_specs.items():
            self._rl_modules[module_id] = spec.build()

    def _run_setup(self) -> None:
        # Sub-modules seed themselves from their own model_config.
        self.setup()

    def _slim_for_inference(self) -> None:
        """Sub-modules are slimmed by their own specs."""

    # ---- fields -----------------------------------------------------------------------
    @property
    def inference_only(self) -> bool:
        """The global flag if set, else True only when every sub-module is inference-only."""
        flag = self._rlm.inference_only
        if flag is not None:
            return bool(flag)
        return bool(self._rl_modules) and all(m.inference_only for m in self._rl_modules.values())

    @property
    def framework(self) -> str | None:
        """The sub-modules' common framework, or None when empty or mixed."""
        names = {m.framework for m in self._rl_modules.values()}
        return names.pop() if len(names) == 1 else None

    # ---- dict API ---------------------------------------------------------------------
    def __getitem__(self, module_id: str) -> RLModule:
        try:
            return self._rl_modules[module_id]
        except KeyError:
            raise KeyError(self._unknown(module_id)) from None

    def get(self, module_id: str, default: Any = None) -> RLModule | Any:
        """The module under ``module_id``, or ``default`` when there is none (like ``dict.get``)."""
        return self._rl_modules.get(module_id, default)

    def keys(self) -> KeysView[str]:
        """The module IDs, in the order the modules were added."""
        return self._rl_modules.keys()

    def values(self) -> ValuesView[RLModule]:
        """The sub-modules, in the order they were added."""
        return self._rl_modules.values()

    def items(self) -> ItemsView[str, RLModule]:
        """``(module_id, module)`` pairs, in the order the modules were added."""
        return self._rl_modules.items()

    def __contains__(self, module_id: object) -> bool:
        return module_id in self._rl_modules

    def __len__(self) -> int:
        return len(self._rl_modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rl_modules)

    def _unknown(self, module_id: Any) -> str:
        return f"Unknown module ID {module_id!r}; available module IDs: {sorted(self._rl_modules)}."

    # ---- modifying --------------------------------------------------------------------
    def add_module(self, module_id: str, module: RLModule, *, override: bool = False) -> None:
        """Adds ``module`` under ``module_id`` at runtime.

        Raises:
            ValueError: invalid ID, a MultiRLModule as the module, or an existing ID
                without ``override=True``.
        """
        check_module_id(module_id, self._rl_modules)
        if not isinstance(module, RLModule) or isinstance(module, MultiRLModule):
            raise ValueError(
                f"add_module expects a single RLModule; received {type(module).__name__}."
            )
        if module_id in self._rl_modules and not override:
            raise ValueError(
                f"Module ID {module_id!r} already exists. Pass override=True to replace it, or "
                "choose another ID."
            )
        self._rl_modules[module_id] = module

    def remove_module(self, module_id: str, *, raise_err_if_not_found: bool = True) -> None:
        """Removes ``module_id``; an unknown ID raises KeyError unless told not to."""
        if module_id not in self._rl_modules:
            if raise_err_if_not_found:
                raise KeyError(self._unknown(module_id))
            return
        del self._rl_modules[module_id]

    def foreach_module(
        self, func: Callable[[str, RLModule], Any], *, return_dict: bool = False
    ) -> list[Any] | dict[str, Any]:
        """Calls ``func(module_id, module)`` for each module; results as a list or dict."""
        results = {mid: func(mid, module) for mid, module in self._rl_modules.items()}
        return results if return_dict else list(results.values())

    def as_multi_rl_module(self) -> MultiRLModule:
        """Returns self."""
        return self

    def get_initial_state(self) -> dict[str, Any]:
        return {mid: m.get_initial_state() for mid, m in self._rl_modules.items()}

    def is_stateful(self) -> bool:
        return any(m.is_stateful() for m in self._rl_modules.values())

    def get_ctor_args_and_kwargs(self) -> tuple[tuple, dict[str, Any]]:
        from rlmodule_core.spec import RLModuleSpec  # spec.py imports this module

        fields = self._rlm
        return (), {
            "observation_space": fields.observation_space,
            "action_space": fields.action_space,
            "inference_only": fields.inference_only,
            "learner_only": fields.learner_only,
            "model_config": dict(fields.model_config),
            "rl_module_specs": {mid: RLModuleSpec.from_module(m) for mid, m in self.items()},
        }

    # ---- forward passes ---------------------------------------------------------------
    def _route(self, batch: Mapping[str, Any]) -> list[tuple[str, RLModule, Any]]:
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"A MultiRLModule forward expects {{module_id: batch}}; received {type(batch).__name__}."
            )
        modules = self._rl_modules
        routed = []
        for module_id, sub_batch in batch.items():
            module = modules.get(module_id)
            if module is None:
                raise KeyError(self._unknown(module_id))
            routed.append((module_id, module, sub_batch))
        return routed

    def _forward_inference(self, batch: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {mid: m.forward_inference(b, **kwargs) for mid, m, b in self._route(batch)}

    def _forward_exploration(self, batch: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {mid: m.forward_exploration(b, **kwargs) for mid, m, b in self._route(batch)}

    def _forward_train(self, batch: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {mid: m.forward_train(b, **kwargs) for mid, m, b in self._route(batch)}

    # ---- state ------------------------------------------------------------------------
    def get_state(
        self,
        components: str | Iterable[str] | None = None,
        *,
        not_components: str | Iterable[str] | None = None,
        inference_only: bool = False,
        out: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        **kwargs: Any,
    ) -> dict[str, dict[str, np.ndarray]]:
        """``{module_id: sub_state}``.

        ``components``/``not_components`` name module IDs, or ``"module_id.prefix"`` for
        part of one module. ``out`` (``{module_id: sub_state}``, e.g. an earlier result)
        gives each module arrays to fill in place (see ``RLModule.get_state``).
        """
        selected = self._split_components(components) if components is not None else None
        excluded = self._split_components(not_components) if not_components is not None else {}
        state = {}
        for module_id, module in self._rl_modules.items():
            if selected is not None and module_id not in selected:
                continue
            if module_id in excluded and excluded[module_id] is None:
                continue
            state[module_id] = module.get_state(
                selected[module_id] if selected is not None else None,
                not_components=excluded.get(module_id),
                inference_only=inference_only,
                out=None if out is None else out.get(module_id),
            )
        return state

    def _split_components(self, components: str | Iterable[str]) -> dict[str, list[str] | None]:
        """``["p0", "p1.encoder"]`` -> ``{"p0": None, "p1": ["encoder"]}`` (None: whole module).

        Module IDs may contain dots: a component that is exactly a module ID addresses that
        module, else the longest ID that prefixes it at a dot.
        """
        out: dict[str, list[str] | None] = {}
        for component in _as_list(components):
            module_id, rest = _match_module_id(component, self._rl_modules)
            if module_id is None:
                raise KeyError(self._unknown(component.partition(".")[0]))
            if not rest:
                out[module_id] = None
            elif out.get(module_id, []) is not None:
                out.setdefault(module_id, []).append(rest)
        return out

    def set_state(self, state: Mapping[str, Mapping[str, Any]], *, strict: bool = True) -> dict:
        """Loads ``{module_id: sub_state}``; modules not named keep their weights.

        Every sub-state is validated before anything is written, so a bad entry changes
        no module. Returns ``{module_id: StateMismatch}``.

        Raises:
            KeyError: an unknown module ID (the message lists the available ones).
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"MultiRLModule.set_state expects {{module_id: state}}; received {type(state).__name__}."
            )
        unknown = [mid for mid in state if mid not in self._rl_modules]
        if unknown:
            raise KeyError(
                f"Unknown module IDs {unknown} in set_state; available module IDs: "
                f"{sorted(self._rl_modules)}."
            )
        plans = self._prepare_all(
            {mid: (lambda m, s=sub: m._prepare_state(s, strict=strict)) for mid, sub in state.items()}
        )
        for mid, plan in plans.items():
            self._rl_modules[mid]._state_write(plan.arrays)
        return {mid: plan.mismatch for mid, plan in plans.items()}

    def _prepare_all(self, preparers: Mapping[str, Callable[[RLModule], Any]]) -> dict[str, Any]:
        """Validates every module before any write; the first failure raises, naming the module."""
        plans = {}
        try:
            for mid, prepare in preparers.items():
                try:
                    plans[mid] = prepare(self._rl_modules[mid])
                except ValueError as err:
                    raise type(err)(f"[module {mid!r}] {err}") from err
        except BaseException:
            # Target networks made while validating earlier modules go again: nothing changed.
            for mid, plan in plans.items():
                self._rl_modules[mid]._discard_plan(plan)
            raise
        return plans

    # ---- checkpoints ------------------------------------------------------------------
    def _write_checkpoint(self, directory: Path, state: Mapping[str, Any] | None) -> str:
        from rlmodule_core.spec import RLModuleSpec  # spec.py imports this module

        metadata = module_metadata(self, "multi_rl_module")
        metadata["module_ids"] = list(self._rl_modules)
        metadata["modules"] = {
            mid: RLModuleSpec.from_module(m).to_dict() for mid, m in self._rl_modules.items()
        }
        files = {}
        for mid, module in self._rl_modules.items():
            sub_dir = directory / mid
            sub_dir.mkdir()
            files[f"{mid}/{METADATA_FILE}"] = module._write_checkpoint(sub_dir, None if state is None else state.get(mid))
        return write_metadata(directory, metadata, files)

    def _restore_checkpoint(
        self, directory: Path, component: str | None, expected: tuple[str, str] | None = None
    ) -> None:
        # Each sub-module's metadata.json is checked against this one's checksum as that
        # sub-module reads it (below): every file read is verified, and read once.
        metadata = read_metadata(directory, verify=False, expected=expected)
        if metadata.get("kind") != "multi_rl_module":
            raise CheckpointError(
                f"{directory} holds a single-module checkpoint; restore it into an RLModule "
                "or into one sub-module (multi[module_id].restore_from_path(...))."
            )
        subs = tuple(f"{mid}/{METADATA_FILE}" for mid in metadata["module_ids"])
        verify_checkpoint(directory, metadata, skip=subs)
        stored = list(metadata["module_ids"])
        if component is not None:
            module_id, sub_component = _match_module_id(component, stored)
            if module_id is None:
                raise KeyError(f"Component {component!r} names no module of the checkpoint; it has {stored}.")
            if module_id not in self._rl_modules:
                raise KeyError(self._unknown(module_id))
            targets = {module_id: sub_component or None}
        else:
            if sorted(stored) != sorted(self._rl_modules):
                raise ValueError(
                    f"The checkpoint holds modules {sorted(stored)} but this MultiRLModule has "
                    f"{sorted(self._rl_modules)}. Add or remove modules to match, restore one "
                    "with component=module_id, or build from the checkpoint with from_checkpoint()."
                )
            targets = dict.fromkeys(stored)
        algorithm = algorithm_of(metadata)
        plans = self._prepare_all(
            {
                mid: (lambda m, mid=mid, sub=sub: _prepare_from_checkpoint(
                    m, inside(directory, mid, f"{directory / METADATA_FILE}: field 'module_ids'"), sub,
                    (algorithm, metadata["files"][f"{mid}/{METADATA_FILE}"]),
                ))
                for mid, sub in targets.items()
            }
        )
        for mid, plan in plans.items():
            self._rl_modules[mid]._state_write(plan.arrays)


def _match_module_id(component: str, module_ids: Iterable[str]) -> tuple[str | None, str]:
    """``(module_id, rest)`` of a dotted component: an exact ID first, else the longest prefix ID."""
    ids = list(module_ids)
    if component in ids:
        return component, ""
    match = max((m for m in ids if component.startswith(m + ".")), key=len, default=None)
    return (match, component[len(match) + 1 :]) if match is not None else (None, "")
