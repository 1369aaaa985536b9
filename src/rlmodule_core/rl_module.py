"""RLModule: construction, forward dispatch, state and inference-only slimming.

The class here is neutral: it names no framework. A module author subclasses it (or a
backend's ``<X>RLModule`` for a native module); at build time a neutral subclass is
composed with the chosen backend's base class (``Backend.bind``), which supplies the
framework object, the ``nn``/``ops`` namespaces and the state and dispatch hooks.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import gymnasium as gym
import numpy as np

from rlmodule_core.apis.inference_only import InferenceOnlyAPI
from rlmodule_core.apis.target_network import TargetNetworkAPI
from rlmodule_core.backend import binding, registry
from rlmodule_core.backend.scope import build_scope
from rlmodule_core.checkpoint import (
    METADATA_FILE,
    STATE_FILE,
    CheckpointError,
    algorithm_of,
    inside,
    load_state_file,
    read_metadata,
    save_state_file,
    stream_state_file,
    verify_checkpoint,
    write_metadata,
)
from rlmodule_core.checkpointing import Checkpointable, module_metadata
from rlmodule_core.distributions import get_action_dist_cls

__all__ = ["RLModule", "StateMismatch"]

if TYPE_CHECKING:
    from rlmodule_core.backend import Backend
    from rlmodule_core.multi_rl_module import MultiRLModule

_FINAL_METHODS = ("forward_exploration", "forward_inference", "forward_train")


class StateMismatch(NamedTuple):
    """What ``set_state(..., strict=False)`` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


@dataclasses.dataclass(eq=False)
class _Fields:
    """The constructor fields, held in one plain object.

    One identity-hashed holder keeps the fields out of the frameworks' attribute
    tracking (Keras wraps dicts and lists; Flax NNX wants hashable static attributes).
    """

    observation_space: gym.Space | None
    action_space: gym.Space | None
    inference_only: bool | None
    learner_only: bool | None
    model_config: dict[str, Any]


def check_space(value: Any, name: str, owner: str = "RLModuleSpec") -> gym.Space | None:
    """Returns ``value`` if it is a gymnasium space (or None), else raises ValueError."""
    if value is None or isinstance(value, gym.spaces.Space):
        return value
    raise ValueError(
        f"{name} must be a gymnasium.spaces.Space; received {type(value).__name__} "
        f"({value!r:.80}). Pass {name}=gymnasium.spaces.Box(...) (or another space) to {owner}."
    )


def to_config_dict(model_config: Any) -> dict[str, Any]:
    """``None`` -> ``{}``, a dataclass (``DefaultModelConfig``) -> its dict, a dict -> a copy."""
    if model_config is None:
        return {}
    if dataclasses.is_dataclass(model_config) and not isinstance(model_config, type):
        return dataclasses.asdict(model_config)
    if isinstance(model_config, Mapping):
        return dict(model_config)
    raise ValueError(
        "model_config must be a dict or a DefaultModelConfig; received "
        f"{type(model_config).__name__}. Pass model_config={{...}} or DefaultModelConfig(...)."
    )


def _under(key: str, prefixes: Iterable[str]) -> bool:
    """Whether ``key`` equals a prefix or lies below it at a ``.`` boundary."""
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _is_target_key(key: str) -> bool:
    return any("target" in part for part in key.split("."))


class RLModule(Checkpointable, abc.ABC):  # noqa: B024 - _forward is checked at call time
    """Base class of RL modules: a policy (and whatever else a learner needs) behind
    three forward passes.

    Subclass it, build your layers in ``setup()`` with ``self.nn``, and compute in
    ``_forward`` (or ``_forward_inference``/``_forward_exploration``/``_forward_train``).
    Never override the public ``forward_*`` methods.

    Example:
        >>> import gymnasium as gym
        >>> from rlmodule_core import RLModule, RLModuleSpec, Columns
        >>> class Policy(RLModule):
        ...     def setup(self):
        ...         self.pi = self.nn.Sequential([
        ...             self.nn.Dense(4, 32, activation="tanh"),
        ...             self.nn.Dense(32, self.action_space.n),
        ...         ])
        ...     def _forward(self, batch, **kwargs):
        ...         return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}
        >>> spec = RLModuleSpec(module_class=Policy, observation_space=gym.spaces.Box(-1, 1, (4,)),
        ...                     action_space=gym.spaces.Discrete(2), framework="numpy")
        >>> module = spec.build()
        >>> module.forward_inference({Columns.OBS: np.zeros((1, 4), np.float32)})
    """

    #: The backend a class belongs to; None for neutral classes (set by backend bases).
    _backend_name: ClassVar[str | None] = None
    #: Read by Backend.bind: which backend base class composes with this class.
    _rlm_kind: ClassVar[str] = "module"
    #: For a composed class: the neutral class it was made from.
    _neutral_class: ClassVar[type | None] = None
    #: Containers (MultiRLModule) are never bound to a backend.
    _is_container: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overridden = [name for name in _FINAL_METHODS if name in cls.__dict__]
        if overridden:
            raise TypeError(
                f"{cls.__qualname__} overrides {', '.join(overridden)}, which are final. "
                "Override _forward (or _forward_inference, _forward_exploration, "
                "_forward_train) instead."
            )

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls._backend_name is None and not cls._is_container:
            return binding.construct_bound(cls, args, kwargs)
        return binding.cooperative_new(RLModule, cls, args, kwargs)

    def __init__(
        self,
        *,
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        inference_only: bool = False,
        learner_only: bool = False,
        model_config: Mapping[str, Any] | Any | None = None,
        **kwargs: Any,
    ) -> None:
        if self.__dict__.pop(binding.SKIP_INIT, False):
            return
        if kwargs:
            raise TypeError(
                f"{type(self).__qualname__}() got unexpected keyword arguments {sorted(kwargs)}. "
                "Expected observation_space, action_space, inference_only, learner_only, "
                "model_config."
            )
        fields = self._make_fields(
            observation_space, action_space, inference_only, learner_only, model_config
        )
        self._init_framework()
        object.__setattr__(self, "_rlm", fields)
        self._run_setup()
        if self.inference_only:
            self._slim_for_inference()

    @staticmethod
    def _make_fields(observation_space, action_space, inference_only, learner_only, model_config):
        if inference_only and learner_only:
            raise ValueError(
                "inference_only and learner_only cannot both be True: an inference-only "
                "module lacks the parts a learner trains. Set at most one of them."
            )
        config = to_config_dict(model_config)
        seed = config.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"model_config['seed'] must be an int or None; received {seed!r}.")
        return _Fields(
            check_space(observation_space, "observation_space", "the module"),
            check_space(action_space, "action_space", "the module"),
            inference_only,
            learner_only,
            config,
        )

    def _run_setup(self) -> None:
        with build_scope(self._backend_name, self.model_config.get("seed")):
            self.setup()

    def __reduce_ex__(self, protocol: int):
        if type(self)._neutral_class is not None:
            return binding.reduce_bound(self, protocol)
        return super().__reduce_ex__(protocol)

    # ---- fields -----------------------------------------------------------------------
    @property
    def observation_space(self) -> gym.Space | None:
        return self._rlm.observation_space

    @property
    def action_space(self) -> gym.Space | None:
        return self._rlm.action_space

    @property
    def inference_only(self) -> bool:
        return bool(self._rlm.inference_only)

    @property
    def learner_only(self) -> bool:
        return bool(self._rlm.learner_only)

    @property
    def model_config(self) -> dict[str, Any]:
        return self._rlm.model_config

    @property
    def framework(self) -> str | None:
        """The canonical backend name (``"torch"``, ``"tf"``, ``"jax"``, ``"numpy"``)."""
        return self._backend_name

    @property
    def backend(self) -> Backend:
        """The backend object this module runs on."""
        return registry.get_backend(self._backend_name)

    # ---- construction -----------------------------------------------------------------
    def setup(self) -> None:
        """Builds the module's layers (called exactly once, from the constructor).

        Use ``self.nn`` for layers; their parameters are drawn from
        ``model_config["seed"]`` when it is set.
        """

    def _init_framework(self) -> None:
        """Backends initialize their framework base here, before any attribute is set."""

    def get_ctor_args_and_kwargs(self) -> tuple[tuple, dict[str, Any]]:
        """The constructor arguments that rebuild this module (without its weights)."""
        return (), {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "inference_only": self.inference_only,
            "learner_only": self.learner_only,
            "model_config": dict(self.model_config),
        }

    def as_multi_rl_module(self) -> MultiRLModule:
        """Wraps this very module (not a copy) in a MultiRLModule under DEFAULT_MODULE_ID."""
        # multi_rl_module subclasses this class, so it is imported when first needed.
        from rlmodule_core.multi_rl_module import DEFAULT_MODULE_ID, MultiRLModule

        multi = MultiRLModule()
        multi.add_module(DEFAULT_MODULE_ID, self)
        return multi

    def get_initial_state(self) -> Any:
        """The recurrent state at the start of an episode (``{}`` for stateless modules)."""
        return {}

    def is_stateful(self) -> bool:
        """Whether the module carries recurrent state between calls."""
        initial = self.get_initial_state()
        return bool(initial) if isinstance(initial, Mapping | list | tuple) else initial is not None

    # ---- action distributions ---------------------------------------------------------
    def get_inference_action_dist_cls(self) -> type:
        """The distribution class that turns inference outputs into actions."""
        return get_action_dist_cls(self.action_space)

    def get_exploration_action_dist_cls(self) -> type:
        """The distribution class sampled from during exploration."""
        return self.get_inference_action_dist_cls()

    def get_train_action_dist_cls(self) -> type:
        """The distribution class the loss evaluates ``logp``/``entropy``/``kl`` with."""
        return self.get_inference_action_dist_cls()

    # ---- forward passes (final) -------------------------------------------------------
    def forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """DO NOT OVERRIDE. Forward pass for sampling with exploration, in inference mode."""
        return self._run_inference(self._forward_exploration, batch, kwargs)

    def forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """DO NOT OVERRIDE. Forward pass for greedy acting/deployment, in inference mode."""
        return self._run_inference(self._forward_inference, batch, kwargs)

    def forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """DO NOT OVERRIDE. Forward pass before the loss, in train mode with gradients.

        Raises:
            RuntimeError: the module is inference-only.
        """
        if self._rlm.inference_only:
            raise RuntimeError(
                f"forward_train called on an inference-only {type(self).__qualname__}: its "
                "training-only parts were removed. Build it with inference_only=False to train."
            )
        return self._run_train(self._forward_train, batch, kwargs)

    def inference(self, fn, batch: dict[str, Any], **kwargs: Any) -> Any:
        """Runs ``fn(batch, **kwargs)`` in inference mode: no gradients, eval mode, inputs converted.

        For calls outside the three forwards, e.g. values for GAE:
        ``module.inference(module.compute_values, batch)``. Pass a bound method (not a
        lambda) so compiled backends can cache it.
        """
        return self._run_inference(fn, batch, kwargs)

    # Backends override these two to set the mode, disable gradients and convert inputs.
    def _run_inference(self, fn, batch, kwargs):
        return fn(batch, **kwargs)

    def _run_train(self, fn, batch, kwargs):
        return fn(batch, **kwargs)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The generic forward pass used by all three phases unless they are overridden."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must implement _forward (or _forward_inference, "
            "_forward_exploration and _forward_train)."
        )

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._forward(batch, **kwargs)

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._forward(batch, **kwargs)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._forward(batch, **kwargs)

    # ---- inference-only slimming ------------------------------------------------------
    def _non_inference_prefixes(self) -> list[str]:
        if isinstance(self, InferenceOnlyAPI):
            return list(self.get_non_inference_attributes())
        return []

    def _slim_for_inference(self) -> None:
        """Deletes the attributes named by ``get_non_inference_attributes()``.

        A name that does not exist is skipped: a module may not build training-only
        parts at all when it is inference-only.
        """
        for path in self._non_inference_prefixes():
            parent, _, name = path.rpartition(".")
            owner = self._resolve_path(parent) if parent else self
            if owner is not None and _has_attr(owner, name):
                self._delete_attribute(owner, name)

    def _resolve_path(self, path: str) -> Any:
        obj: Any = self
        for part in path.split("."):
            if not _has_attr(obj, part):
                return None
            obj = getattr(obj, part)
        return obj

    def _delete_attribute(self, parent: Any, name: str) -> None:
        """Removes ``parent.name``; backends untrack layers where their framework tracks them."""
        delattr(parent, name)

    # ---- state ------------------------------------------------------------------------
    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Every state key with its canonical shape and dtype (backend hook)."""
        raise NotImplementedError

    def _state_read(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Copies of the named state entries in canonical layout (backend hook)."""
        raise NotImplementedError

    def _state_write(self, state: dict[str, np.ndarray]) -> None:
        """Copies validated arrays into the parameters in place (backend hook)."""
        raise NotImplementedError

    def _state_read_into(self, keys: list[str], out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``_state_read(keys)``, filling the arrays of ``out`` in place (optional backend hook).

        ``out`` holds only arrays already checked to be C-contiguous, writable and of the
        key's canonical shape and dtype. This default reads fresh copies and copies them
        over (right on any backend); a backend overrides it to copy straight into ``out``.
        """
        state = self._state_read(keys)
        for key, array in out.items():
            np.copyto(array, state[key])
            state[key] = array
        return state

    def get_state(
        self,
        components: str | Iterable[str] | None = None,
        *,
        not_components: str | Iterable[str] | None = None,
        inference_only: bool = False,
        out: Mapping[str, np.ndarray] | None = None,
        **kwargs: Any,
    ) -> dict[str, np.ndarray]:
        """The module's weights as ``{"dotted.path": np.ndarray}`` (CPU copies).

        Args:
            components: keep only keys at or below these dotted prefixes.
            not_components: drop keys at or below these dotted prefixes.
            inference_only: drop the keys under ``get_non_inference_attributes()``
                (what an env runner needs, e.g. for weight sync).
            out: arrays to reuse, typically an earlier result of this call. Each entry
                whose key, shape and dtype match (C-contiguous and writable) is
                overwritten in place and returned; other keys get new arrays. Repeated
                weight syncs then skip allocating and page-faulting fresh memory, which
                costs about as much as the copy itself.

        Example:
            >>> state = module.get_state()
            >>> sorted(state)[:2]
            ['encoder.layers.0.bias', 'encoder.layers.0.kernel']
            >>> state = module.get_state(out=state)  # the same arrays, refreshed
        """
        shapes = self._state_shapes()
        keys = list(shapes)
        if components is not None:
            prefixes = _as_list(components)
            unknown = [p for p in prefixes if not any(_under(k, [p]) for k in keys)]
            if unknown:
                raise ValueError(
                    f"Unknown state components {unknown}. Expected dotted prefixes of the "
                    f"state keys; top-level entries are {sorted({k.split('.')[0] for k in keys})}."
                )
            keys = [k for k in keys if _under(k, prefixes)]
        if not_components is not None:
            excluded = _as_list(not_components)
            keys = [k for k in keys if not _under(k, excluded)]
        if inference_only and not self.inference_only:
            excluded = self._non_inference_prefixes()
            keys = [k for k in keys if not _under(k, excluded)]
        if out is None:
            return self._state_read(keys)
        return self._state_read_into(keys, _reusable(out, keys, shapes))

    def set_state(self, state: Mapping[str, Any], *, strict: bool = True) -> StateMismatch:
        """Loads weights from ``{"dotted.path": array}``, in place.

        Strict by default: missing, unexpected or mis-shaped keys raise one ``ValueError``
        that names them all, and the module is left unchanged. Keys of training-only
        parts are skipped when this module is inference-only. With ``strict=False``,
        missing and unexpected keys are returned instead (mis-shaped keys still raise).
        A state with target-network keys makes the targets first if they do not exist.
        Values must be real numbers where the parameter is one: float64 arrays fill
        float32 parameters (cast), but complex, string, object and boolean arrays are
        refused with an error naming the key.

        Returns:
            ``StateMismatch(missing_keys, unexpected_keys)``.
        """
        plan = self._prepare_state(state, strict=strict)
        self._state_write(plan.arrays)
        return plan.mismatch

    def _prepare_state(
        self, state: Mapping[str, Any], *, strict: bool, scope: list[str] | None = None
    ) -> _StatePlan:
        """Validates and casts ``state`` without writing; the second half is ``_state_write``.

        ``scope`` limits the missing-key check to keys under those prefixes (restoring
        one component). Target networks made here are removed again if validation fails.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"set_state expects a dict of {{'dotted.path': array}}; received "
                f"{type(state).__name__}."
            )
        shapes = self._state_shapes()
        made_targets = self._maybe_make_targets(state, shapes)
        if made_targets:
            shapes = self._state_shapes()
        try:
            plan = self._validate_state(state, shapes, strict=strict, scope=scope)
        except BaseException:
            for name in made_targets:
                self._delete_attribute(self, name)
            raise
        return plan._replace(made_targets=made_targets)

    def _discard_plan(self, plan: _StatePlan) -> None:
        """Undoes what preparing ``plan`` changed (target networks it made); nothing is written."""
        for name in plan.made_targets:
            self._delete_attribute(self, name)

    def _maybe_make_targets(self, state: Mapping[str, Any], shapes: Mapping[str, Any]) -> list[str]:
        wanted = [k for k in state if k not in shapes and _is_target_key(k)]
        if not wanted or not isinstance(self, TargetNetworkAPI) or self.inference_only:
            return []
        before = {k.split(".")[0] for k in shapes}
        self.make_target_networks()
        after = {k.split(".")[0] for k in self._state_shapes()}
        return sorted(after - before)

    def _validate_state(self, state, shapes, *, strict, scope) -> _StatePlan:
        skipped = self._non_inference_prefixes() if self.inference_only else []
        unexpected = [k for k in state if k not in shapes and not (skipped and _under(k, skipped))]
        candidates = shapes if scope is None else [k for k in shapes if _under(k, scope)]
        missing = [k for k in candidates if k not in state]
        arrays: dict[str, np.ndarray] = {}
        wrong: list[str] = []
        for key, value in state.items():
            if key not in shapes:
                continue
            shape, dtype = shapes[key]
            try:
                array = np.asarray(value)
                problem = _kind_problem(array.dtype, np.dtype(dtype))
                if problem is None:
                    array = array.astype(dtype, copy=False)
            except (TypeError, ValueError) as err:
                wrong.append(f"{key}: cannot convert {type(value).__name__} to {dtype} ({err})")
                continue
            if problem is not None:
                wrong.append(f"{key}: {problem}")
                continue
            if array.shape != tuple(shape):
                wrong.append(f"{key}: expected shape {tuple(shape)}, received {array.shape}")
                continue
            arrays[key] = array
        if wrong or (strict and (missing or unexpected)):
            raise ValueError(_state_error(type(self).__qualname__, missing, unexpected, wrong, strict))
        return _StatePlan(arrays, StateMismatch(missing, unexpected))


    # ---- checkpoints (format in rlmodule_core.checkpoint) --------------------------------
    def _write_checkpoint(self, directory, state) -> str:
        return _write_module_checkpoint(self, directory, state)

    def _restore_checkpoint(
        self, directory, component: str | None, expected: tuple[str, str] | None = None
    ) -> None:
        plan = _prepare_from_checkpoint(self, directory, component, expected)
        self._state_write(plan.arrays)


class _StatePlan(NamedTuple):
    arrays: dict[str, np.ndarray]
    mismatch: StateMismatch
    #: Target networks made while preparing (removed again if the write does not happen).
    made_targets: list[str] = []


# Which source dtype kinds may fill a parameter of each kind: real numbers into real
# numbers (float64 into float32 included, as RLlib allows), integers into integers, bools
# into bools. Complex, string, object and bool arrays are never cast into numbers.
_ACCEPTED_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b", "c": "fiuc"}
_KIND_NAMES = {"b": "boolean", "c": "complex", "O": "object", "U": "string", "S": "bytes", "V": "void",
               "M": "datetime", "m": "timedelta", "f": "float", "i": "integer", "u": "unsigned integer"}


_EXPECTED = {"f": "real numbers", "i": "integers", "u": "integers", "b": "booleans", "c": "numbers"}


def _kind_problem(source: np.dtype, target: np.dtype) -> str | None:
    if source.kind in _ACCEPTED_KINDS.get(target.kind, target.kind):
        return None
    return (
        f"expected {_EXPECTED.get(target.kind, target.name)} for a {target} parameter; received a "
        f"{_KIND_NAMES.get(source.kind, source.kind)} array ({source}), which is not cast silently"
    )


def _state_error(owner: str, missing, unexpected, wrong, strict) -> str:
    lines = [f"set_state on {owner} failed; the module was not changed."]
    if strict and missing:
        lines.append(f"  missing keys ({len(missing)}): {_preview(missing)}")
    if strict and unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {_preview(unexpected)}")
    if wrong:
        lines.append(f"  mis-shaped or invalid ({len(wrong)}): " + "; ".join(wrong[:10]))
    lines.append(
        "Expected exactly the keys and shapes of module.get_state(). Pass a state from a "
        "module built with the same spec, or strict=False to load the matching keys only."
    )
    return "\n".join(lines)


def _preview(keys: list[str], limit: int = 10) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _reusable(out: Mapping[str, Any], keys: list[str], shapes: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The entries of ``out`` that ``get_state`` can fill in place for ``keys``."""
    found = {}
    for key in keys:
        array = out.get(key)
        if type(array) is not np.ndarray:
            continue
        shape, dtype = shapes[key]
        flags = array.flags
        if array.shape == tuple(shape) and array.dtype == dtype and flags.c_contiguous and flags.writeable:
            found[key] = array
    return found


def _as_list(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _has_attr(obj: Any, name: str) -> bool:
    try:
        getattr(obj, name)
    except (AttributeError, KeyError, IndexError, TypeError):
        return False
    return True


def _write_module_checkpoint(module: RLModule, directory, state) -> str:
    """Writes a single-module checkpoint into ``directory``; returns its metadata's digest."""
    metadata = module_metadata(module, "rl_module")  # validates the config before any write
    if state is None:
        # Read from the module a batch at a time as the file is written (get_state()'s
        # keys and values): no copy of the whole state is held.
        digest = stream_state_file(directory / STATE_FILE, module._state_shapes(), module._state_read)
    else:
        digest = save_state_file(directory / STATE_FILE, state)
    metadata["state_file"] = STATE_FILE
    return write_metadata(directory, metadata, {STATE_FILE: digest})


def _prepare_from_checkpoint(
    module: RLModule, directory, component: str | None, expected: tuple[str, str] | None = None
) -> _StatePlan:
    """Reads a single-module checkpoint and validates it against ``module`` (no write).

    ``expected`` is ``(algorithm, digest)`` of its ``metadata.json`` where a parent
    checkpoint lists it: checked as the file is read (see ``read_metadata``).
    """
    metadata = read_metadata(directory, verify=False, expected=expected)
    if metadata["kind"] != "rl_module":
        raise CheckpointError(
            f"{directory} holds a {metadata['kind']} checkpoint, not a single module; restore a "
            "MultiRLModule's module from its sub-directory (path/<module_id>), or restore into "
            "a MultiRLModule."
        )
    # The state file is checked against its checksum as it is read: read once, not twice.
    # The schema check made sure it is a plain name listed (with its checksum) in "files".
    state_file = metadata["state_file"]
    verify_checkpoint(directory, metadata, skip=(state_file,))
    path = inside(directory, state_file, f"{directory / METADATA_FILE}: field 'state_file'")
    # Mapped: the arrays go into the module's own buffers right after validation (the
    # caller's _state_write), so the restore holds no second copy of the state.
    state = load_state_file(
        path, digest=metadata["files"][state_file], algorithm=algorithm_of(metadata), mapped=True
    )
    if component is None:
        return module._prepare_state(state, strict=True)
    state = {k: v for k, v in state.items() if _under(k, [component])}
    if not state:
        raise ValueError(
            f"The checkpoint at {str(directory)!r} has no state under component {component!r}."
        )
    return module._prepare_state(state, strict=True, scope=[component])

