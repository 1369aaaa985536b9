"""Exporting a module (or a checkpoint from any backend) to an ONNX file.

A neutral module is rebuilt on this backend from the checkpoint's metadata and state,
its forward pass is traced on symbolic inputs named after the batch columns, and the
recorded nodes with the parameters as initializers become the model. A native module
(a ``TorchRLModule`` subclass) goes through its framework's own exporter instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import onnx
from onnx import helper

from rlmodule_core._version import __version__
from rlmodule_core.backend.scope import skip_initialization
from rlmodule_core.checkpoint import METADATA_FILE, class_path, read_metadata, resolve_class
from rlmodule_core.columns import Columns
from rlmodule_core.spaces import space_to_json

from .graph import Dim, Graph, OnnxExportError, Sym, value_info
from .state import layer_paths, named_state

__all__ = [
    "DEFAULT_OPSET", "MAX_OPSET", "METADATA_PREFIX", "MIN_OPSET", "PHASES", "InputSpec",
    "add_actions", "assemble_batch", "example_inputs", "export_onnx", "flat_outputs", "input_specs", "load_source",
]

#: The opset written by default: LayerNormalization exists, and runtimes from 2022 on read it.
DEFAULT_OPSET = 17
#: Shape(start, end) needs 15; 21 is the newest opset the tests run.
MIN_OPSET, MAX_OPSET = 15, 21
PHASES = ("inference", "exploration", "train")
#: Keys of the model's metadata_props start with this.
METADATA_PREFIX = "rlmodule."


def export_onnx(
    source: Any,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    phase: str = "inference",
    with_actions: bool = False,
    trust_code: bool = False,
) -> str:
    """Writes the forward pass of a module as an ONNX model; returns the file path.

    Args:
        source: an ``RLModule`` on any backend, or a module checkpoint directory written by
            any backend (a learner checkpoint or a training run directory works too).
        path: the ``.onnx`` file to write (replaced atomically).
        opset: the ONNX opset (``MIN_OPSET`` to ``MAX_OPSET``).
        phase: ``"inference"`` (default), ``"exploration"`` or ``"train"``: which forward
            pass becomes the graph. Phases that draw random numbers cannot be exported.
        with_actions: add an ``actions`` output: the greedy action of the inference
            distribution (argmax, the mean, or the squashed mean), or the module's own
            ``actions`` when its forward pass returns them (Q modules).
        trust_code: import the module class a checkpoint names even when it is not
            rlmodule-core's, a backend's, registered or already imported (runs its code).

    Example:
        >>> import rlmodule_core as rlm
        >>> rlm.export_onnx("runs/ppo/checkpoint/module", "policy.onnx", with_actions=True)
        '.../policy.onnx'

    Raises:
        OnnxExportError: an op, layer or batch column the graph cannot express (the
            message names it and the layer), or a native module without an exporter.
        CheckpointError: the checkpoint is missing or corrupted.
        ValueError: a bad ``opset`` or ``phase``, or a MultiRLModule.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(
            f"opset must be an int from {MIN_OPSET} to {MAX_OPSET}; received {opset!r}. "
            f"The default, {DEFAULT_OPSET}, suits current runtimes."
        )
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {list(PHASES)}; received {phase!r}.")
    if with_actions and phase == "train":
        raise ValueError("with_actions applies to the inference and exploration phases, not 'train'.")
    module, framework = load_source(source, phase, trust_code=trust_code)
    if _is_native(type(module)):
        model = _export_native(module, opset, phase, with_actions)
    else:
        model = _trace(module, opset, phase, with_actions)
    _set_metadata(model, module, framework, phase, with_actions)
    onnx.checker.check_model(model, full_check=True)
    return _write(model, Path(path))


# ---- loading -----------------------------------------------------------------------------------


def _is_native(cls: type) -> bool:
    """A backend's own module class (e.g. a TorchRLModule subclass), not a bound neutral one."""
    return getattr(cls, "_backend_name", None) is not None and getattr(cls, "_neutral_class", None) is None


def _module_dir(path: Path) -> Path:
    """The module checkpoint inside a run directory or a learner checkpoint."""
    if not (path / METADATA_FILE).is_file() and (path / "checkpoint" / METADATA_FILE).is_file():
        path = path / "checkpoint"
    if (path / METADATA_FILE).is_file() and read_metadata(path, verify=False).get("kind") == "learner":
        path = path / "module"
    return path


def load_source(source: Any, phase: str, *, trust_code: bool = False) -> tuple[Any, str | None]:
    """``(module to export, framework it came from)``: neutral modules rebuilt on "onnx"."""
    from rlmodule_core.multi_rl_module import MultiRLModule
    from rlmodule_core.rl_module import RLModule
    from rlmodule_core.spec import RLModuleSpec

    inference_only = phase != "train"
    if isinstance(source, MultiRLModule):
        raise ValueError(
            "export_onnx writes one module; received a MultiRLModule with module IDs "
            f"{sorted(source.keys())}. Export one of them: export_onnx(multi['<module_id>'], ...)."
        )
    if isinstance(source, RLModule):
        if _is_native(type(source)) or source.framework == "onnx":
            return source, source.framework
        spec = RLModuleSpec.from_module(source)
        spec.framework = "onnx"
        spec.inference_only = inference_only or source.inference_only
        with skip_initialization():
            module = spec.build()
        module.set_state(source.get_state(inference_only=module.inference_only))
        return module, source.framework
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"export_onnx expected an RLModule or a checkpoint directory; received {type(source).__name__}."
        )
    path = _module_dir(Path(source))
    # from_checkpoint below verifies every file as it reads it: no second hashing pass here.
    metadata = read_metadata(path, verify=False)
    if metadata.get("kind") == "multi_rl_module":
        ids = metadata.get("module_ids", [])
        raise ValueError(
            f"{path} is a MultiRLModule checkpoint with module IDs {ids}; export_onnx writes one "
            f"module. Export a sub-checkpoint instead, e.g. {path / (ids[0] if ids else '<module_id>')}."
        )
    cls = resolve_class(metadata["class"], trust_code=trust_code)
    flags: dict[str, Any] = {"trust_code": trust_code}
    if _is_native(cls):
        return RLModule.from_checkpoint(path, **flags), metadata.get("framework")
    if inference_only:
        flags["inference_only"] = True
    return RLModule.from_checkpoint(path, framework="onnx", **flags), metadata.get("framework")


# ---- graph inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """One graph input: its name, where it goes in the batch, dtype and shape after (B[, T])."""

    name: str
    keys: tuple[Any, ...]
    dtype: np.dtype
    shape: tuple[int, ...]
    time_axis: bool
    doc: str
    #: The gymnasium space of an observation or action leaf (None for recurrent state).
    space: gym.Space | None = None


def _leaf_dtype(space: gym.Space) -> np.dtype:
    if isinstance(space, gym.spaces.Box):
        return np.dtype(np.float32) if np.issubdtype(space.dtype, np.floating) else np.dtype(space.dtype)
    if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
        return np.dtype(np.int64)
    return np.dtype(space.dtype)


def _space_leaves(space: gym.Space, name: str, keys: tuple) -> list[tuple[str, tuple, gym.Space]]:
    if isinstance(space, gym.spaces.Dict):
        return [leaf for k, sub in space.spaces.items() for leaf in _space_leaves(sub, f"{name}.{k}", (*keys, k))]
    if isinstance(space, gym.spaces.Tuple):
        return [leaf for i, sub in enumerate(space.spaces) for leaf in _space_leaves(sub, f"{name}.{i}", (*keys, i))]
    if not isinstance(space, gym.spaces.Box | gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.MultiBinary):
        raise OnnxExportError(
            f"Cannot make a graph input of {name} for the space {space!r}: expected Box, Discrete, "
            "MultiDiscrete, MultiBinary, or Dict/Tuple of these."
        )
    return [(name, keys, space)]


def input_specs(module: Any) -> list[InputSpec]:
    """The graph inputs of ``module``'s forward pass, in order.

    ``obs`` (or ``obs.<key>`` per leaf of a Dict/Tuple space); for a recurrent module the
    observations are (batch, time, ...) and ``state_in.<key>`` (batch, ...) follow, then
    ``prev_actions`` / ``prev_rewards`` when the model config feeds them to the LSTM.
    """
    recurrent = module.is_stateful()
    specs = [
        InputSpec(name, (Columns.OBS, *keys), _leaf_dtype(space), tuple(space.shape), recurrent,
                  f"observation: {space}", space)
        for name, keys, space in _space_leaves(module.observation_space, Columns.OBS, ())
    ]
    if not recurrent:
        return specs
    initial = module.get_initial_state()
    for key, value in _flat_items(initial, Columns.STATE_IN):
        value = np.asarray(value)
        specs.append(InputSpec(key, (Columns.STATE_IN, *key.split(".")[1:]), np.dtype(np.float32), value.shape, False,
                               "recurrent state (start an episode with zeros)"))
    config = module.model_config
    if config.get("lstm_use_prev_action"):
        for name, keys, space in _space_leaves(module.action_space, Columns.PREV_ACTIONS, ()):
            specs.append(InputSpec(name, (Columns.PREV_ACTIONS, *keys), _leaf_dtype(space), tuple(space.shape), True,
                                   "the previous action", space))
    if config.get("lstm_use_prev_reward"):
        specs.append(InputSpec(Columns.PREV_REWARDS, (Columns.PREV_REWARDS,), np.dtype(np.float32), (), True,
                               "the previous reward"))
    return specs


def _flat_items(tree: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(tree, dict):
        return [item for k, v in tree.items() for item in _flat_items(v, f"{prefix}.{k}")]
    if isinstance(tree, list | tuple):
        return [item for i, v in enumerate(tree) for item in _flat_items(v, f"{prefix}.{i}")]
    return [(prefix, tree)]


class _Batch(dict):
    """The traced batch: reading a column that is no graph input says which inputs exist."""

    def __missing__(self, key: Any) -> Any:
        raise OnnxExportError(
            f"The module's forward pass read batch[{key!r}], which is not an input of the exported "
            f"graph (inputs come from the columns {sorted(self)}). Modules that need other columns "
            "cannot be exported automatically; read only obs (and state_in, prev_actions, "
            "prev_rewards for recurrent modules)."
        )


def assemble_batch(specs: Sequence[InputSpec], values: Sequence[Any]) -> dict[str, Any]:
    """The nested batch (Dict observations as dicts, Tuple ones as tuples) from flat values."""
    root: dict[Any, Any] = _Batch()
    for spec, value in zip(specs, values):
        node = root
        for key in spec.keys[:-1]:
            node = node.setdefault(key, {})
        node[spec.keys[-1]] = value
    return _tuples(root)


def _tuples(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _tuples(v) for k, v in node.items()}
    if converted and all(isinstance(k, int) for k in converted):
        return tuple(converted[i] for i in range(len(converted)))
    if isinstance(node, _Batch):
        return _Batch(converted)
    return converted


# ---- outputs -----------------------------------------------------------------------------------------


def add_actions(module: Any, out: dict[str, Any], phase: str) -> dict[str, Any]:
    if Columns.ACTIONS in out:
        return out
    if Columns.ACTION_DIST_INPUTS not in out:
        raise OnnxExportError(
            f"with_actions needs {Columns.ACTION_DIST_INPUTS!r} (or {Columns.ACTIONS!r}) among the "
            f"outputs of forward_{phase}; it returned {sorted(out)}. Export without with_actions."
        )
    get_cls = module.get_exploration_action_dist_cls if phase == "exploration" else module.get_inference_action_dist_cls
    dist = get_cls().from_logits(out[Columns.ACTION_DIST_INPUTS], ops=module.ops)
    return {**out, Columns.ACTIONS: dist.to_deterministic().sample()}


def flat_outputs(out: Any) -> list[tuple[str, Any]]:
    """``[(name, value)]`` of a forward pass's (nested) output dict: ``state_out.h`` etc."""
    if not isinstance(out, dict):
        raise OnnxExportError(f"A forward pass must return a dict; received {type(out).__name__}.")
    return [item for k, v in out.items() for item in _flat_items(v, str(k))]


# ---- tracing a neutral module ----------------------------------------------------------------------------


def _trace(module: Any, opset: int, phase: str, with_actions: bool) -> onnx.ModelProto:
    graph = Graph(opset, {id(a): k for k, a in named_state(module).items()}, layer_paths(module))
    specs = input_specs(module)
    first = specs[0].name
    batch_dim = Dim([("batch", first, 0)])
    time_dim = Dim([("time", first, 1)])
    syms, inputs = [], []
    for spec in specs:
        graph.reserve(spec.name)
        lead = (batch_dim, time_dim) if spec.time_axis else (batch_dim,)
        syms.append(graph.sym(spec.name, spec.dtype, lead + spec.shape))
        inputs.append(value_info(spec.name, spec.dtype, lead + spec.shape, spec.doc))
    batch = assemble_batch(specs, syms)
    with graph.active():
        out = getattr(module, f"forward_{phase}")(batch)
        if with_actions:
            out = add_actions(module, out, phase)
        outputs = []
        renamed: dict[str, str] = {}
        for name, value in flat_outputs(out):
            value = value if isinstance(value, Sym) else graph.const(np.asarray(value))
            source = renamed.get(value.name, value.name)
            if source == value.name and value.name not in graph.initializers and graph.rename_output(value.name, name):
                renamed[value.name] = name
            else:
                graph.reserve(name)
                graph.nodes.append(helper.make_node("Identity", [source], [name], name=graph.node_name(f"{name}/Identity")))
            outputs.append(value_info(name, value.dtype, value.shape))
    nodes = _live_nodes(graph.nodes, [o.name for o in outputs])
    used = {i for node in nodes for i in node.input}
    initializers = [t for name, t in graph.initializers.items() if name in used]
    onnx_graph = helper.make_graph(
        nodes, type(module).__name__, inputs, outputs, initializers,
        doc_string=f"{class_path(type(module)._neutral_class)} forward_{phase}, exported by rlmodule-core {__version__}",
    )
    return _model(onnx_graph, opset)


def _live_nodes(nodes: list[onnx.NodeProto], outputs: list[str]) -> list[onnx.NodeProto]:
    """The nodes the outputs depend on, in order (layers may emit values nobody reads,
    e.g. a conv's NHWC transpose when the next conv takes its NCHW input)."""
    needed, live = set(outputs), []
    for node in reversed(nodes):
        if needed.intersection(node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    return live[::-1]


def _model(onnx_graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(onnx_graph, opset_imports=opsets, producer_name="rlmodule-core",
                              producer_version=__version__)
    # The oldest IR version that carries this opset: readable by the widest range of runtimes.
    model.ir_version = helper.find_min_ir_version_for(opsets)
    return model


# ---- native modules -----------------------------------------------------------------------------------------


def example_inputs(specs: Sequence[InputSpec], batch: int = 2, time: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Sample values for each input: draws from the spaces, standard normal recurrent state."""
    rng = np.random.default_rng(seed)
    values = []
    for i, spec in enumerate(specs):
        lead = (batch, time) if spec.time_axis else (batch,)
        if spec.space is not None:
            spec.space.seed(seed + i)
            drawn = np.stack([np.asarray(spec.space.sample()) for _ in range(int(np.prod(lead)))])
            values.append(drawn.reshape(lead + spec.shape).astype(spec.dtype))
        else:
            values.append(rng.normal(size=lead + spec.shape).astype(spec.dtype))
    return values


def _export_native(module: Any, opset: int, phase: str, with_actions: bool) -> onnx.ModelProto:
    backend = module.backend
    exporter: Callable | None = getattr(backend, "export_onnx_function", None)
    if exporter is None:
        raise OnnxExportError(
            f"{type(module).__qualname__} is a native {backend.name!r} module (its layers are "
            f"{backend.name}'s own) and the {backend.name!r} backend has no ONNX exporter. Write "
            "the module against the neutral API (self.nn / self.ops) to export it from any "
            "backend, or export it with the framework's own tools."
        )
    specs = input_specs(module)
    forward = getattr(module, f"forward_{phase}")

    def run(*tensors: Any) -> list[Any]:
        out = forward(assemble_batch(specs, tensors))
        if with_actions:
            out = add_actions(module, out, phase)
        return [value for _, value in flat_outputs(out)]

    examples = example_inputs(specs)
    names = [name for name, _ in flat_outputs(_eager_outputs(module, forward, specs, examples, with_actions, phase))]
    dynamic = {s.name: ({0: "batch", 1: "time"} if s.time_axis else {0: "batch"}) for s in specs}
    for name in names:
        dynamic[name] = {0: "batch"}
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "native.onnx"
        exporter(module, run, examples, [s.name for s in specs], names, dynamic, opset, str(file))
        return onnx.load(str(file))


def _eager_outputs(module, forward, specs, examples, with_actions, phase) -> dict[str, Any]:
    out = forward(assemble_batch(specs, examples))
    return add_actions(module, out, phase) if with_actions else out


# ---- metadata and writing ---------------------------------------------------------------------------------------


def _set_metadata(model: onnx.ModelProto, module: Any, framework: str | None, phase: str, with_actions: bool) -> None:
    cls = type(module)._neutral_class or type(module)
    dist = None
    if phase != "train":
        getter = module.get_exploration_action_dist_cls if phase == "exploration" else module.get_inference_action_dist_cls
        dist_cls = getter()
        dist = f"{dist_cls.__module__}:{dist_cls.__qualname__}"
    props = {
        "format": "rlmodule-core/onnx",
        "library_version": __version__,
        "module_class": class_path(cls),
        "action_dist_class": dist or "",
        "observation_space": json.dumps(space_to_json(module.observation_space)),
        "action_space": json.dumps(space_to_json(module.action_space)),
        "model_config": json.dumps(module.model_config, sort_keys=True),
        "source_framework": framework or "",
        "phase": phase,
        "with_actions": json.dumps(bool(with_actions)),
    }
    helper.set_model_props(model, {METADATA_PREFIX + k: v for k, v in props.items()})


def _write(model: onnx.ModelProto, path: Path) -> str:
    if path.is_dir():
        raise ValueError(f"{path} is a directory; pass the path of the .onnx file to write.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(path.absolute())
