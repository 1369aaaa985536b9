"""Building modules from checkpoint directories (``from_checkpoint``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlmodule_core import registry
from rlmodule_core.checkpoint import CheckpointError, import_class, read_metadata, verify_metadata
from rlmodule_core.initializers import skip_initialization

_OVERRIDES = ("framework", "module_class", "inference_only", "learner_only")


def load(path: Path, expected_cls: type, **overrides: Any) -> Any:
    """Builds the checkpoint's module (or MultiRLModule) and loads its state."""
    unknown = sorted(set(overrides) - set(_OVERRIDES))
    if unknown:
        raise TypeError(
            f"from_checkpoint() got unexpected arguments {unknown}. Expected any of {list(_OVERRIDES)}."
        )
    # Only the metadata's own checksum here: the files are verified as the state is loaded
    # below (restoring verifies everything), so no file is hashed twice.
    metadata = read_metadata(path, verify=False)
    verify_metadata(path, metadata)
    kind = metadata.get("kind")
    if kind not in ("rl_module", "multi_rl_module"):
        raise CheckpointError(f"{path / 'metadata.json'} has an unknown kind {kind!r}.")
    stored = overrides.get("module_class") or import_class(metadata["class"])
    wanted = getattr(expected_cls, "_neutral_class", None) or expected_cls
    stored_neutral = getattr(stored, "_neutral_class", None) or stored
    if not issubclass(stored_neutral, wanted):
        raise ValueError(
            f"The checkpoint at {str(path)!r} holds a {metadata['class']}, which is not a "
            f"{wanted.__qualname__} (or subclass). Call {stored_neutral.__qualname__}.from_checkpoint() "
            "or RLModule.from_checkpoint() instead."
        )
    # Every parameter is overwritten by the strict restore that follows: skip drawing
    # random initial weights (orthogonal init of a 2048x2048 kernel alone takes ~0.1 s).
    with skip_initialization():
        if kind == "multi_rl_module":
            module = _build_multi(path, metadata, stored, overrides)
        else:
            module = _build_single(metadata, stored, overrides)
    module._restore_checkpoint(path, None)
    return module


def check_portable(module_class: type, recorded: str, framework: str | None) -> str:
    """The framework to build on; a native module may only go back to its own framework."""
    target = registry.canonical_name(framework) if framework is not None else recorded
    native = getattr(module_class, "_backend_name", None)
    if native is not None and native != target:
        raise ValueError(
            f"{module_class.__qualname__} is a native {native!r} module (its layers are "
            f"{native}'s own), so its checkpoint cannot be restored on {target!r}. Restore it "
            f"with framework={native!r}, or write the module against the neutral RLModule base "
            "(self.nn / self.ops) so that it runs on every framework."
        )
    return target


def _build_single(metadata: dict, module_class: type, overrides: dict) -> Any:
    from rlmodule_core.spaces import space_from_json
    from rlmodule_core.spec import RLModuleSpec

    ctor = metadata["ctor"]
    framework = check_portable(module_class, metadata["framework"], overrides.get("framework"))
    spec = RLModuleSpec(
        module_class=module_class,
        observation_space=_space(ctor["observation_space"], space_from_json),
        action_space=_space(ctor["action_space"], space_from_json),
        inference_only=_pick(overrides, "inference_only", ctor["inference_only"]),
        learner_only=_pick(overrides, "learner_only", ctor["learner_only"]),
        model_config=ctor["model_config"],
        framework=framework,
    )
    return spec.build()


def _build_multi(path: Path, metadata: dict, multi_class: type, overrides: dict) -> Any:
    from rlmodule_core.spaces import space_from_json
    from rlmodule_core.spec import RLModuleSpec

    ctor = metadata["ctor"]
    specs = {}
    for module_id in metadata["module_ids"]:
        spec = RLModuleSpec.from_dict(metadata["modules"][module_id])
        spec.framework = check_portable(
            spec.module_class, spec.framework, overrides.get("framework")
        )
        for flag in ("inference_only", "learner_only"):
            if overrides.get(flag) is not None:
                setattr(spec, flag, overrides[flag])
        specs[module_id] = spec
    return multi_class(
        observation_space=_space(ctor["observation_space"], space_from_json),
        action_space=_space(ctor["action_space"], space_from_json),
        inference_only=_pick(overrides, "inference_only", ctor["inference_only"]),
        learner_only=_pick(overrides, "learner_only", ctor["learner_only"]),
        model_config=ctor["model_config"],
        rl_module_specs=specs,
    )


def _pick(overrides: dict, key: str, default: Any) -> Any:
    value = overrides.get(key)
    return default if value is None else value


def _space(value: Any, decode) -> Any:
    return None if value is None else decode(value)
