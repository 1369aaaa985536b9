"""One schema check of ``metadata.json``: every field's type and range, before any use.

Readers call ``check_metadata`` right after parsing, so no other code sees a field of
the wrong type (no ``TypeError``/``KeyError`` from deep inside), and every failure is a
``CheckpointError`` that names the file and the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlmodule_core.checkpoint.digest import ALGORITHMS, metadata_digest_field
from rlmodule_core.checkpoint.errors import CheckpointError
from rlmodule_core.checkpoint.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_FILE,
    module_id_problem,
)
from rlmodule_core.checkpoint.paths import check_name

__all__ = [
    "MAX_NESTING", "MAX_SPACE_ELEMENTS", "SIZE_FLOOR", "check_metadata", "check_sizes",
    "check_space_json", "check_spec_dict", "config_size", "space_size",
]

#: Deepest nesting of lists and objects accepted anywhere in the metadata.
MAX_NESTING = 100
#: Most elements of one space (a Box of 4M elements is a 2048x2048 image).
MAX_SPACE_ELEMENTS = 1 << 22
#: Most leaf spaces in one Tuple/Dict tree, and its deepest nesting.
MAX_SPACES, MAX_SPACE_DEPTH = 1024, 16
#: Spaces and model sizes up to this many elements need no state to back them.
SIZE_FLOOR = 1 << 20
_MAX_INT = 1 << 62
#: sha256 and BLAKE3 digests both: 32 bytes as lowercase hex.
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PART = r"(?:[A-Za-z_][A-Za-z0-9_]*|<locals>)"
_CLASS_PATH = re.compile(rf"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:{_PART}(?:\.{_PART})*")
_KINDS = ("rl_module", "multi_rl_module", "learner")
_SPACE_DTYPES = frozenset(
    ["bool", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
     "uint8", "uint16", "uint32", "uint64"]
)
_SPEC_FIELDS = (
    "module_class", "observation_space", "action_space", "inference_only", "learner_only",
    "model_config", "framework",
)
# DefaultModelConfig's sizes: each one becomes at least that many parameters.
_SIZE_KEYS = ("fcnet_hiddens", "head_fcnet_hiddens", "conv_filters", "lstm_cell_size")


class _Checker:
    """Field checks that name the file and the dotted field in every error."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, where: str, expected: str, value: Any) -> CheckpointError:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return CheckpointError(
            f"{self.file}: field {where!r} must be {expected}; received {type(value).__name__} "
            f"({shown}). The checkpoint was altered or not written by rlmodule-core."
        )

    def typed(self, value: Any, types: Any, where: str, expected: str) -> Any:
        # bool is an int subclass, but True is never a count, version or size.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            raise self.fail(where, expected, value)
        return value

    def field(self, mapping: Mapping[str, Any], key: str, types: Any, where: str, expected: str,
              *, required: bool = True) -> Any:
        if key not in mapping:
            if required:
                raise CheckpointError(f"{self.file}: required field {where!r} is missing.")
            return None
        return self.typed(mapping[key], types, where, expected)

    def integer(self, value: Any, where: str, low: int, high: int) -> int:
        self.typed(value, int, where, f"an int in [{low}, {high}]")
        if not low <= value <= high:
            raise self.fail(where, f"an int in [{low}, {high}]", value)
        return value

    def class_path(self, value: Any, where: str) -> str:
        expected = 'a class path "package.module:QualName"'
        self.typed(value, str, where, expected)
        if len(value) > 512 or not _CLASS_PATH.fullmatch(value):
            raise self.fail(where, expected, value)
        return value


def _as_tuple(types: Any) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def check_nesting(value: Any, file: Path) -> None:
    """Refuses JSON nested deeper than ``MAX_NESTING`` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            raise CheckpointError(f"{file}: the JSON is nested deeper than {MAX_NESTING} levels.")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def check_metadata(metadata: Any, file: Path) -> dict[str, Any]:
    """Checks a parsed ``metadata.json`` of any kind and returns it.

    Raises:
        CheckpointError: names ``file`` and the first field that is wrong.
    """
    c = _Checker(file)
    if not isinstance(metadata, dict):
        raise CheckpointError(
            f"{file} is not rlmodule-core checkpoint metadata: it holds a JSON "
            f"{type(metadata).__name__}, expected an object."
        )
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{file} is not rlmodule-core checkpoint metadata (field 'format': expected "
            f"{FORMAT_NAME!r}, received {str(metadata.get('format'))[:60]!r})."
        )
    version = c.field(metadata, "format_version", int, "format_version", "an int")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{file} has format version {version}; this rlmodule-core reads up to "
            f"{FORMAT_VERSION}. Upgrade rlmodule-core."
        )
    c.integer(version, "format_version", 1, FORMAT_VERSION)
    kind = c.field(metadata, "kind", str, "kind", f"one of {list(_KINDS)}")
    if kind not in _KINDS:
        raise c.fail("kind", f"one of {list(_KINDS)}", kind)
    c.field(metadata, "library_version", str, "library_version", "a string", required=False)
    _check_digests(c, metadata, version)
    files = metadata["files"]
    c.class_path(c.field(metadata, "class", str, "class", "a class path"), "class")
    if kind == "learner":
        c.field(metadata, "config", dict, "config", "an object")
        c.integer(c.field(metadata, "num_updates", int, "num_updates", "an int"), "num_updates", 0, _MAX_INT)
        c.field(metadata, "extra", dict, "extra", "an object", required=False)
        return metadata
    framework = c.field(metadata, "framework", (str, type(None)), "framework", "a framework name")
    if kind == "rl_module" and framework is None:
        raise c.fail("framework", "a framework name", framework)
    ctor = c.field(metadata, "ctor", dict, "ctor", "an object")
    _check_ctor(c, ctor, "ctor", optional_flags=kind == "multi_rl_module")
    if kind == "rl_module":
        state_file = c.field(metadata, "state_file", str, "state_file", "a file name")
        check_name(state_file, f"{file}: field 'state_file'")
        if "/" in state_file or state_file not in files:
            raise CheckpointError(
                f"{file}: field 'state_file' names {state_file!r:.80}, which must be a file of "
                "this directory listed (with its checksum) in 'files'."
            )
        return metadata
    module_ids = c.field(metadata, "module_ids", list, "module_ids", "a list of module IDs")
    seen: set[str] = set()
    for i, module_id in enumerate(module_ids):
        problem = module_id_problem(module_id)
        if problem is None and module_id.lower() in seen:
            problem = "it equals another module ID ignoring case"
        if problem:
            raise CheckpointError(f"{file}: field 'module_ids[{i}]' ({str(module_id)[:80]!r}) is invalid: {problem}.")
        seen.add(module_id.lower())
        if f"{module_id}/{METADATA_FILE}" not in files:
            raise CheckpointError(
                f"{file}: module {module_id!r} has no checksum: 'files' must list "
                f"'{module_id}/{METADATA_FILE}'."
            )
    modules = c.field(metadata, "modules", dict, "modules", "an object {module_id: spec}")
    if sorted(modules) != sorted(module_ids):
        raise CheckpointError(
            f"{file}: field 'modules' has keys {sorted(modules)[:20]} but 'module_ids' is "
            f"{module_ids[:20]}; they must name the same modules."
        )
    for module_id, spec in modules.items():
        check_spec_dict(spec, f"modules[{module_id!r}]", file)
    return metadata


def _check_digests(c: _Checker, metadata: dict[str, Any], version: int) -> str:
    """The checksum fields of format ``version``; returns its algorithm.

    Version 1: sha256, unnamed, in ``metadata_sha256``. Version 2: ``digest`` names the
    algorithm (``blake3``) and ``metadata_digest`` holds the metadata's own; the other
    version's field is refused, so a checksum can never be read with the wrong algorithm.
    """
    known = ALGORITHMS[version]
    field = metadata_digest_field(version)
    if version == 1:
        algorithm = "sha256"
        for foreign in ("digest", "metadata_digest"):
            if foreign in metadata:
                raise CheckpointError(
                    f"{c.file}: format version 1 has no field {foreign!r} (expected sha256 "
                    "checksums, the metadata's in 'metadata_sha256'); received one. The "
                    "checkpoint was altered or not written by rlmodule-core: re-save it."
                )
    else:
        if "digest" not in metadata:
            raise CheckpointError(
                f"{c.file}: format version {version} must name its checksum algorithm in field "
                f"'digest' (expected one of {list(known)}); it is missing. The checkpoint was "
                "altered or not written by rlmodule-core: re-save it."
            )
        algorithm = metadata["digest"]
        if algorithm not in known:
            raise CheckpointError(
                f"{c.file}: field 'digest' names the checksum algorithm; format version "
                f"{version} expected one of {list(known)}, received {str(algorithm)[:40]!r}. A newer "
                "rlmodule-core may know it: upgrade, or re-save the checkpoint with this one."
            )
        if "metadata_sha256" in metadata:
            raise CheckpointError(
                f"{c.file}: format version {version} expected the metadata's checksum in "
                f"{field!r} ({algorithm}); received version 1's field 'metadata_sha256' too. "
                "The checkpoint was altered or not written by rlmodule-core: re-save it."
            )
    shape = f"a {algorithm} digest (64 lowercase hex digits)"
    digest = c.field(metadata, field, str, field, shape)
    if not _HEX64.fullmatch(digest):
        raise c.fail(field, shape, digest)
    files = c.field(metadata, "files", dict, "files", f"an object {{file name: {algorithm} digest}}")
    for name, value in files.items():
        check_name(name, f"{c.file}: field 'files'")
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise c.fail(f"files[{name!r}]", shape, value)
    return algorithm


def check_spec_dict(spec: Any, where: str, file: Path | str) -> dict[str, Any]:
    """Checks an ``RLModuleSpec.to_dict()`` result: every field's type."""
    c = _Checker(Path(file) if not isinstance(file, Path) else file)
    c.typed(spec, dict, where, "an object (RLModuleSpec.to_dict())")
    unknown = sorted(set(spec) - set(_SPEC_FIELDS))
    if unknown:
        raise CheckpointError(f"{file}: field {where!r} has unknown keys {unknown[:10]}; expected {list(_SPEC_FIELDS)}.")
    if spec.get("module_class") is not None:
        c.class_path(spec["module_class"], f"{where}.module_class")
    for flag in ("inference_only", "learner_only"):
        c.field(spec, flag, bool, f"{where}.{flag}", "true or false", required=False)
    c.field(spec, "model_config", (dict, type(None)), f"{where}.model_config", "an object or null", required=False)
    c.field(spec, "framework", (str, type(None)), f"{where}.framework", "a framework name or null", required=False)
    for name in ("observation_space", "action_space"):
        if spec.get(name) is not None:
            check_space_json(spec[name], f"{where}.{name}", c.file)
    return spec


def _check_ctor(c: _Checker, ctor: dict, where: str, *, optional_flags: bool) -> None:
    flag_types = (bool, type(None)) if optional_flags else bool
    for flag in ("inference_only", "learner_only"):
        c.field(ctor, flag, flag_types, f"{where}.{flag}", "true or false")
    c.field(ctor, "model_config", dict, f"{where}.model_config", "an object")
    for name in ("observation_space", "action_space"):
        value = c.field(ctor, name, (dict, type(None)), f"{where}.{name}", "a space object or null")
        if value is not None:
            check_space_json(value, f"{where}.{name}", c.file)


def check_space_json(value: Any, where: str, file: Path) -> int:
    """Checks a space's JSON form (types, bounds, size) and returns ``space_size``."""
    c = _Checker(file)
    budget = [MAX_SPACES]
    return _space(c, value, where, 0, budget)


def _space(c: _Checker, value: Any, where: str, depth: int, budget: list[int]) -> int:
    c.typed(value, dict, where, 'a space object {"type": ...}')
    budget[0] -= 1
    if depth > MAX_SPACE_DEPTH or budget[0] < 0:
        raise CheckpointError(
            f"{c.file}: field {where!r}: spaces nest deeper than {MAX_SPACE_DEPTH} or hold more "
            f"than {MAX_SPACES} spaces."
        )
    kind = c.field(value, "type", str, f"{where}.type", "a space type")
    if kind in ("Tuple", "Dict"):
        children = c.field(value, "spaces", list if kind == "Tuple" else dict, f"{where}.spaces",
                           "a list" if kind == "Tuple" else "an object")
        items = enumerate(children) if kind == "Tuple" else children.items()
        return sum(_space(c, child, f"{where}.spaces[{key!r}]", depth + 1, budget) for key, child in items)
    if kind == "Box" and "dtype" not in value:
        # space_from_json needs it, and inspect prints it: refuse it here, named.
        raise CheckpointError(f"{c.file}: required field '{where}.dtype' is missing.")
    if "dtype" in value:
        dtype = c.typed(value["dtype"], str, f"{where}.dtype", "a dtype name")
        if dtype not in _SPACE_DTYPES:
            raise c.fail(f"{where}.dtype", f"one of {sorted(_SPACE_DTYPES)}", dtype)
    if kind == "Box":
        shape = c.field(value, "shape", list, f"{where}.shape", "a list of ints")
        if len(shape) > 32:
            raise c.fail(f"{where}.shape", "at most 32 dimensions", shape)
        for i, n in enumerate(shape):
            c.integer(n, f"{where}.shape[{i}]", 0, MAX_SPACE_ELEMENTS)
        size = math.prod(shape)
        _bounded(c, size, where)
        for bound in ("low", "high"):
            if bound not in value:
                raise CheckpointError(f"{c.file}: required field '{where}.{bound}' is missing.")
            _bound_values(c, value[bound], f"{where}.{bound}", size)
        return size
    if kind == "Discrete":
        n = c.integer(c.field(value, "n", int, f"{where}.n", "an int"), f"{where}.n", 1, _MAX_INT)
        if "start" in value:
            c.integer(value["start"], f"{where}.start", -_MAX_INT, _MAX_INT)
        return n
    if kind == "MultiDiscrete":
        nvec = _int_leaves(c, c.field(value, "nvec", (list, int), f"{where}.nvec", "a (nested) list of ints"),
                           f"{where}.nvec", 1)
        if value.get("start") is not None:
            _int_leaves(c, value["start"], f"{where}.start", -_MAX_INT)
        _bounded(c, len(nvec), where)
        return len(nvec) + sum(nvec)
    if kind == "MultiBinary":
        n = c.field(value, "n", (int, list), f"{where}.n", "an int or a list of ints")
        dims = [n] if isinstance(n, int) else n
        for i, d in enumerate(dims):
            c.integer(d, f"{where}.n[{i}]", 1, MAX_SPACE_ELEMENTS)
        size = math.prod(dims)
        _bounded(c, size, where)
        return size
    raise c.fail(f"{where}.type", "one of Box, Discrete, MultiDiscrete, MultiBinary, Tuple, Dict", kind)


def _bounded(c: _Checker, size: int, where: str) -> None:
    if size > MAX_SPACE_ELEMENTS:
        raise CheckpointError(
            f"{c.file}: field {where!r} describes a space of {size:,} elements; at most "
            f"{MAX_SPACE_ELEMENTS:,} are accepted."
        )


def _bound_values(c: _Checker, value: Any, where: str, size: int) -> None:
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        count += 1
        if count > max(size, 1) or not (
            item in ("inf", "-inf") or (isinstance(item, int | float) and not isinstance(item, bool)
                                        and not (isinstance(item, float) and math.isnan(item)))
        ):
            raise c.fail(where, f'numbers, "inf" or "-inf" (at most {size} of them)', value)


def _int_leaves(c: _Checker, value: Any, where: str, low: int) -> list[int]:
    leaves: list[int] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        c.integer(item, where, low, _MAX_INT)
        leaves.append(item)
        if len(leaves) > MAX_SPACE_ELEMENTS:
            _bounded(c, len(leaves), where)
    return leaves


def space_size(value: Any) -> int:
    """The elements a (checked) space JSON stands for: Box elements, Discrete ``n``, ..."""
    return check_space_json(value, "space", Path("space"))


def config_size(model_config: Mapping[str, Any]) -> int:
    """The largest layer size named by the default modules' config keys (0 if none)."""
    largest = 0
    stack = [model_config.get(key) for key in _SIZE_KEYS]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            largest = max(largest, item)
    return largest


def check_sizes(ctor: Mapping[str, Any], state_elements: int, file: Path) -> None:
    """Refuses spaces and layer sizes that the state file's size cannot back.

    A module's parameters grow with its spaces and layer sizes, and its state file holds
    every parameter: sizes beyond ``max(SIZE_FLOOR, state_elements)`` mean a small file
    asks for a large build, which is refused before anything is allocated.
    """
    limit = max(SIZE_FLOOR, state_elements)
    sizes = {name: check_space_json(ctor[name], f"ctor.{name}", file)
             for name in ("observation_space", "action_space") if ctor.get(name) is not None}
    sizes["model_config"] = config_size(ctor.get("model_config") or {})
    for name, size in sizes.items():
        if size > limit:
            raise CheckpointError(
                f"{file}: field 'ctor.{name}' asks for {size:,} elements, but the state file "
                f"holds only {state_elements:,} parameters. The metadata does not match the "
                "state; the checkpoint was altered."
            )
