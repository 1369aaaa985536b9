"""RLModuleSpec and MultiRLModuleSpec: recipes that build modules.

Specs are plain data: every field is optional until ``build()``, which validates and
resolves the framework (DESIGN.md section 12). ``to_dict()`` is JSON (classes as import
paths, spaces as JSON), so a spec can be shipped to another process or machine.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from rlmodule_core.backend import registry
from rlmodule_core.checkpoint import class_path, resolve_class, to_json_value
from rlmodule_core.model_config import DefaultModelConfig
from rlmodule_core.multi_rl_module import (
    DEFAULT_MODULE_ID,
    MultiRLModule,
    check_module_id,
    check_module_ids,
)
from rlmodule_core.rl_module import RLModule, check_space, to_config_dict
from rlmodule_core.spaces import space_from_json, space_to_json

__all__ = ["MultiRLModuleSpec", "RLModuleSpec"]

_SPEC_FIELDS = (
    "module_class", "observation_space", "action_space", "inference_only", "learner_only",
    "model_config", "framework",
)


@dataclass
class RLModuleSpec:
    """Everything needed to build one RLModule.

    Example:
        >>> spec = RLModuleSpec(
        ...     module_class=DefaultPPORLModule,
        ...     observation_space=gym.spaces.Box(-1.0, 1.0, (4,)),
        ...     action_space=gym.spaces.Discrete(2),
        ...     model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]),
        ...     framework="jax",          # or "torch", "tf", "numpy"; None: resolved at build
        ... )
        >>> module = spec.build()
    """

    module_class: type[RLModule] | None = None
    observation_space: gym.Space | None = None
    action_space: gym.Space | None = None
    inference_only: bool = False
    learner_only: bool = False
    model_config: dict[str, Any] | DefaultModelConfig | None = None
    framework: str | None = None

    def build(self) -> RLModule:
        """Validates the spec and builds the module on the resolved framework.

        Raises:
            ValueError: a missing or invalid field (the message names it and the fix).
            ImportError: the framework is not installed (names the pip extra).
        """
        cls = self.module_class
        if cls is None:
            raise ValueError(
                "RLModuleSpec.module_class is None. Pass module_class=YourRLModuleClass "
                "(a subclass of rlmodule_core.RLModule)."
            )
        if not (isinstance(cls, type) and issubclass(cls, RLModule)) or cls._is_container:
            raise ValueError(
                "RLModuleSpec.module_class must be a subclass of rlmodule_core.RLModule (not a "
                f"MultiRLModule); received {cls!r}. Use MultiRLModuleSpec for multi-module setups."
            )
        for name in ("observation_space", "action_space"):
            if getattr(self, name) is None:
                raise ValueError(
                    f"RLModuleSpec.{name} is None. Pass {name}= (a gymnasium.spaces.Space, "
                    f"e.g. env.{name}) to RLModuleSpec."
                )
            check_space(getattr(self, name), name)
        if self.inference_only and self.learner_only:
            raise ValueError(
                "RLModuleSpec has inference_only=True and learner_only=True; at most one may "
                "be set (an inference-only module lacks what a learner trains)."
            )
        framework = registry.resolve_framework(self.framework, cls)
        bound = registry.get_backend(framework).bind(cls)
        return bound(
            observation_space=self.observation_space,
            action_space=self.action_space,
            inference_only=self.inference_only,
            learner_only=self.learner_only,
            model_config=to_config_dict(self.model_config),
        )

    @classmethod
    def from_module(cls, module: RLModule) -> RLModuleSpec:
        """The spec that rebuilds ``module`` (neutral class, canonical framework, dict config)."""
        if isinstance(module, MultiRLModule):
            raise ValueError(
                "RLModuleSpec.from_module received a MultiRLModule; use "
                "MultiRLModuleSpec.from_module for it."
            )
        return cls(
            module_class=type(module)._neutral_class or type(module),
            observation_space=module.observation_space,
            action_space=module.action_space,
            inference_only=module.inference_only,
            learner_only=module.learner_only,
            model_config=dict(module.model_config),
            framework=module.framework,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: the class as ``"module:QualName"``, spaces via ``space_to_json``."""
        return {
            "module_class": None if self.module_class is None else class_path(self.module_class),
            "observation_space": _space_out(self.observation_space),
            "action_space": _space_out(self.action_space),
            "inference_only": self.inference_only,
            "learner_only": self.learner_only,
            "model_config": None
            if self.model_config is None
            else to_json_value(to_config_dict(self.model_config), "model_config"),
            "framework": self.framework,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, trust_code: bool = False) -> RLModuleSpec:
        """The inverse of ``to_dict``; every field's type is checked.

        A ``module_class`` given as a class path resolves as in ``from_checkpoint``: only
        registered, already imported or library classes, unless ``trust_code=True``.

        Raises:
            ValueError: an unknown field or a field of the wrong type (named), or a class
                path that does not resolve (a ``CheckpointError``).
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"RLModuleSpec.from_dict expects a dict; received {type(d).__name__}.")
        unknown = sorted(set(d) - set(_SPEC_FIELDS))
        if unknown:
            raise ValueError(f"Unknown RLModuleSpec fields {unknown}; expected {list(_SPEC_FIELDS)}.")
        module_class = _typed_field(d, "module_class", (str, type, type(None)), "a class path string or a class")
        for flag in ("inference_only", "learner_only"):
            _typed_field(d, flag, bool, "true or false")
        _typed_field(d, "model_config", (Mapping, DefaultModelConfig, type(None)), "a dict or None")
        _typed_field(d, "framework", (str, type(None)), "a framework name or None")
        return cls(
            module_class=resolve_class(module_class, trust_code=trust_code)
            if isinstance(module_class, str) else module_class,
            observation_space=_space_in(d.get("observation_space"), "observation_space"),
            action_space=_space_in(d.get("action_space"), "action_space"),
            inference_only=d.get("inference_only", False),
            learner_only=d.get("learner_only", False),
            model_config=d.get("model_config"),
            framework=d.get("framework"),
        )

    def update(self, other: RLModuleSpec, override: bool = True) -> None:
        """Merges ``other`` into this spec in place.

        ``override=True`` replaces each field that is not None in ``other`` (model_config
        is replaced, not merged); ``override=False`` fills only this spec's None fields.
        """
        if not isinstance(other, RLModuleSpec):
            raise ValueError(f"RLModuleSpec.update expects an RLModuleSpec; received {type(other).__name__}.")
        for name in _SPEC_FIELDS:
            value = getattr(other, name)
            if value is None:
                continue
            if override or getattr(self, name) is None:
                setattr(self, name, copy.deepcopy(value) if name == "model_config" else value)

    def as_multi_rl_module_spec(self) -> MultiRLModuleSpec:
        """A MultiRLModuleSpec with this spec under DEFAULT_MODULE_ID."""
        return MultiRLModuleSpec(rl_module_specs={DEFAULT_MODULE_ID: self})


@dataclass
class MultiRLModuleSpec:
    """Everything needed to build a MultiRLModule.

    ``rl_module_specs`` is a dict ``{module_id: RLModuleSpec}``, or one ``RLModuleSpec``
    used for every module ID: ``build(module_id=X)`` builds module X from it, and
    ``build()`` builds a MultiRLModule with one module under ``DEFAULT_MODULE_ID``. A
    global ``inference_only=True`` applies to every sub-spec.

    Example:
        >>> spec = MultiRLModuleSpec(rl_module_specs={"p0": spec_a, "p1": spec_b})
        >>> multi = spec.build()
        >>> out = multi.forward_inference({"p0": batch0, "p1": batch1})
    """

    multi_rl_module_class: type[MultiRLModule] = MultiRLModule
    observation_space: gym.Space | None = None
    action_space: gym.Space | None = None
    inference_only: bool | None = None
    learner_only: bool | None = None
    model_config: dict[str, Any] | None = None
    rl_module_specs: RLModuleSpec | dict[str, RLModuleSpec] = field(default_factory=dict)

    def _specs(self) -> dict[str, RLModuleSpec]:
        specs = self.rl_module_specs
        if isinstance(specs, RLModuleSpec):
            specs = {DEFAULT_MODULE_ID: specs}
        if not isinstance(specs, Mapping):
            raise ValueError(
                "MultiRLModuleSpec.rl_module_specs must be an RLModuleSpec or a dict "
                f"{{module_id: RLModuleSpec}}; received {type(specs).__name__}."
            )
        out = {}
        check_module_ids(specs)
        for module_id, spec in specs.items():
            if not isinstance(spec, RLModuleSpec):
                raise ValueError(
                    f"rl_module_specs[{module_id!r}] must be an RLModuleSpec; received "
                    f"{type(spec).__name__}."
                )
            out[module_id] = self._with_globals(spec)
        return out

    def _with_globals(self, spec: RLModuleSpec) -> RLModuleSpec:
        if self.inference_only:
            spec = dataclasses.replace(spec, inference_only=True)
        return spec

    def build(self, module_id: str | None = None) -> RLModule:
        """Builds the MultiRLModule, or only the module ``module_id``.

        Raises:
            KeyError: ``module_id`` has no spec (the message lists the IDs that do).
        """
        if module_id is not None:
            check_module_id(module_id)
            if isinstance(self.rl_module_specs, RLModuleSpec):
                return self._with_globals(self.rl_module_specs).build()
            specs = self._specs()
            if module_id not in specs:
                raise KeyError(
                    f"No RLModuleSpec for module ID {module_id!r}; available: {sorted(specs)}."
                )
            return specs[module_id].build()
        cls = self.multi_rl_module_class
        if not (isinstance(cls, type) and issubclass(cls, MultiRLModule)):
            raise ValueError(
                f"multi_rl_module_class must be a MultiRLModule subclass; received {cls!r}."
            )
        return cls(
            observation_space=self.observation_space,
            action_space=self.action_space,
            inference_only=self.inference_only,
            learner_only=self.learner_only,
            model_config=self.model_config,
            rl_module_specs=self._specs(),
        )

    def add_modules(self, module_specs: Mapping[str, RLModuleSpec], override: bool = True) -> None:
        """Adds specs; an existing ID is replaced when ``override`` else merged (fill-only)."""
        specs = self._specs_dict()
        for module_id, spec in module_specs.items():
            check_module_id(module_id, specs)
            if module_id in specs and not override:
                # A merged copy: the spec objects the caller passed in stay as they were.
                merged = copy.copy(specs[module_id])
                merged.update(spec, override=False)
                specs[module_id] = merged
            else:
                specs[module_id] = spec
        self.rl_module_specs = specs

    def remove_modules(self, module_ids: str | list[str]) -> None:
        """Removes the specs of ``module_ids`` (unknown IDs raise KeyError)."""
        specs = self._specs_dict()
        ids = [module_ids] if isinstance(module_ids, str) else list(module_ids)
        unknown = [m for m in ids if m not in specs]
        if unknown:
            raise KeyError(f"Unknown module IDs {unknown}; available: {sorted(specs)}.")
        for module_id in ids:
            del specs[module_id]
        self.rl_module_specs = specs

    def _specs_dict(self) -> dict[str, RLModuleSpec]:
        specs = self.rl_module_specs
        return {DEFAULT_MODULE_ID: specs} if isinstance(specs, RLModuleSpec) else dict(specs)

    @classmethod
    def from_module(cls, module: MultiRLModule) -> MultiRLModuleSpec:
        """The spec that rebuilds ``module``, including modules added at runtime."""
        if not isinstance(module, MultiRLModule):
            raise ValueError(
                f"MultiRLModuleSpec.from_module expects a MultiRLModule; received "
                f"{type(module).__name__}. Use RLModuleSpec.from_module for single modules."
            )
        fields = module._rlm
        return cls(
            multi_rl_module_class=type(module),
            observation_space=fields.observation_space,
            action_space=fields.action_space,
            inference_only=fields.inference_only,
            learner_only=fields.learner_only,
            model_config=dict(fields.model_config) if fields.model_config else None,
            rl_module_specs={mid: RLModuleSpec.from_module(m) for mid, m in module.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (a single shared spec stays a single spec)."""
        specs = self.rl_module_specs
        return {
            "multi_rl_module_class": class_path(self.multi_rl_module_class),
            "observation_space": _space_out(self.observation_space),
            "action_space": _space_out(self.action_space),
            "inference_only": self.inference_only,
            "learner_only": self.learner_only,
            "model_config": None
            if self.model_config is None
            else to_json_value(self.model_config, "model_config"),
            "rl_module_specs": specs.to_dict()
            if isinstance(specs, RLModuleSpec)
            else {mid: s.to_dict() for mid, s in specs.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, trust_code: bool = False) -> MultiRLModuleSpec:
        """The inverse of ``to_dict``; every field's type is checked (see ``RLModuleSpec.from_dict``)."""
        if not isinstance(d, Mapping):
            raise ValueError(f"MultiRLModuleSpec.from_dict expects a dict; received {type(d).__name__}.")
        raw = _typed_field(d, "rl_module_specs", (Mapping, type(None)), "a dict") or {}
        single = "module_class" in raw
        specs = (
            RLModuleSpec.from_dict(raw, trust_code=trust_code)
            if single
            else {mid: RLModuleSpec.from_dict(s, trust_code=trust_code) for mid, s in raw.items()}
        )
        multi_class = _typed_field(d, "multi_rl_module_class", (str, type, type(None)), "a class path or a class")
        for flag in ("inference_only", "learner_only"):
            _typed_field(d, flag, (bool, type(None)), "true, false or None")
        _typed_field(d, "model_config", (Mapping, type(None)), "a dict or None")
        return cls(
            multi_rl_module_class=resolve_class(multi_class, trust_code=trust_code)
            if isinstance(multi_class, str) else (multi_class or MultiRLModule),
            observation_space=_space_in(d.get("observation_space"), "observation_space"),
            action_space=_space_in(d.get("action_space"), "action_space"),
            inference_only=d.get("inference_only"),
            learner_only=d.get("learner_only"),
            model_config=d.get("model_config"),
            rl_module_specs=specs,
        )

    def update(self, other: MultiRLModuleSpec, override: bool = False) -> None:
        """Merges ``other`` into this spec, as RLlib's ``MultiRLModuleSpec.update`` does.

        With ``override=True`` each sub-spec that ``other`` names replaces this spec's
        sub-spec of that module ID; with ``override=False`` (the default, as in RLlib)
        only module IDs this spec lacks are added. Global fields follow
        ``RLModuleSpec.update``: replaced when ``override``, else only filled. The
        sub-specs of ``other`` are copied, never shared or mutated.

        Example:
            >>> spec = MultiRLModuleSpec(rl_module_specs={"p0": spec_a})
            >>> spec.update(MultiRLModuleSpec(rl_module_specs={"p0": spec_b, "p1": spec_b}))
            >>> spec.rl_module_specs["p0"] is spec_a   # kept: override=False
            True

        Raises:
            ValueError: ``other`` is not a MultiRLModuleSpec.
        """
        if not isinstance(other, MultiRLModuleSpec):
            raise ValueError(
                f"MultiRLModuleSpec.update expects a MultiRLModuleSpec; received {type(other).__name__}. "
                "Wrap a single RLModuleSpec with spec.as_multi_rl_module_spec()."
            )
        for name in ("observation_space", "action_space", "inference_only", "learner_only", "model_config"):
            value = getattr(other, name)
            if value is not None and (override or getattr(self, name) is None):
                setattr(self, name, value)
        specs = self._specs_dict()
        for module_id, spec in other._specs_dict().items():
            if override or module_id not in specs:
                specs[module_id] = copy.copy(spec)
        self.rl_module_specs = specs


def _space_out(space: gym.Space | None) -> dict | None:
    return None if space is None else space_to_json(space)


def _space_in(value: Any, name: str) -> gym.Space | None:
    if value is None or isinstance(value, gym.Space):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(
            f"Spec field {name!r} must be a space, its JSON dict or None; received "
            f"{type(value).__name__} ({value!r:.60})."
        )
    return space_from_json(value)


def _typed_field(d: Mapping[str, Any], name: str, types: Any, expected: str) -> Any:
    value = d.get(name)
    if name not in d:
        return value
    # bool is an int subclass; and a type is never acceptable where a bool is expected.
    if not isinstance(value, types) or (types is bool and not isinstance(value, bool)):
        raise ValueError(
            f"Spec field {name!r} must be {expected}; received {type(value).__name__} "
            f"({value!r:.60}). Fix the value (e.g. false, not \"false\")."
        )
    return value
