"""What a checkpoint holds, read without building the module or importing a framework."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rlmodule_core.checkpoint.digest import algorithm_of
from rlmodule_core.checkpoint.errors import CheckpointError
from rlmodule_core.checkpoint.format import METADATA_FILE
from rlmodule_core.checkpoint.metadata import read_metadata, verify_checkpoint
from rlmodule_core.checkpoint.paths import inside
from rlmodule_core.checkpoint.state_file import read_state_header


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON-able description of the checkpoint at ``path``.

    Keys: ``path``, ``kind``, ``class``, ``framework``, ``library_version``,
    ``format_version``, ``digest`` (the checksum algorithm: ``"blake3"``, or ``"sha256"``
    for format version 1), ``observation_space``, ``action_space``, ``inference_only``,
    ``learner_only``, ``model_config``, ``checksums_ok`` and ``checksum_error``, and for a
    single module ``parameters`` (``[{name, shape, dtype, bytes}]``), ``num_parameters``
    and ``num_bytes``; for a MultiRLModule ``modules`` (``{module_id: description}``).

    Every field is schema-checked and the state file's header validated (the same
    reader restoring uses) before anything is described.

    Raises:
        CheckpointError: no checkpoint at ``path``, malformed metadata or a malformed
            state file header (the message names the file).
    """
    directory = Path(path)
    metadata = read_metadata(directory, verify=False)
    if metadata["kind"] == "learner":
        # Training state: describe the module it trains, and check the learner's own files
        # (optimizer state, the module's metadata) too, or a corrupt one would pass as OK.
        info = describe(inside(directory, "module", f"{directory / METADATA_FILE}: kind 'learner'"))
        try:
            verify_checkpoint(directory, metadata)
        except CheckpointError as err:
            if info["checksums_ok"]:
                info["checksums_ok"], info["checksum_error"] = False, str(err)
        return info
    try:
        verify_checkpoint(directory, metadata)
        checksum_error = None
    except CheckpointError as err:
        checksum_error = str(err)
    ctor = metadata.get("ctor", {})
    info: dict[str, Any] = {
        "path": str(directory.absolute()),
        "kind": metadata.get("kind"),
        "class": metadata.get("class"),
        "framework": metadata.get("framework"),
        "library_version": metadata.get("library_version"),
        "format_version": metadata.get("format_version"),
        "digest": algorithm_of(metadata),
        "observation_space": ctor.get("observation_space"),
        "action_space": ctor.get("action_space"),
        "inference_only": ctor.get("inference_only"),
        "learner_only": ctor.get("learner_only"),
        "model_config": ctor.get("model_config"),
        "checksums_ok": checksum_error is None,
        "checksum_error": checksum_error,
    }
    if metadata.get("kind") == "multi_rl_module":
        info["modules"] = {}
        for module_id in metadata.get("module_ids", []):
            sub = describe(inside(directory, module_id, f"{directory / METADATA_FILE}: field 'module_ids'"))
            info["modules"][module_id] = sub
            if not sub["checksums_ok"] and info["checksums_ok"]:
                info["checksums_ok"], info["checksum_error"] = False, sub["checksum_error"]
        info["num_parameters"] = sum(m["num_parameters"] for m in info["modules"].values())
        info["num_bytes"] = sum(m["num_bytes"] for m in info["modules"].values())
        return info
    params = _parameters(inside(directory, metadata["state_file"], f"{directory / METADATA_FILE}: field 'state_file'"))
    info["parameters"] = params
    info["num_parameters"] = sum(_numel(p["shape"]) for p in params)
    info["num_bytes"] = sum(p["bytes"] for p in params)
    return info


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _parameters(state_file: Path) -> list[dict[str, Any]]:
    """Names, shapes and dtypes from the validated safetensors header (no tensor data is read)."""
    header = read_state_header(state_file)
    return [
        {"name": e.name, "shape": list(e.shape), "dtype": e.dtype, "bytes": e.end - e.begin}
        for e in sorted(header.entries, key=lambda e: e.name)
    ]


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}


def escape(text: object) -> str:
    """``str(text)`` with control characters escaped, so a file cannot drive the terminal."""
    return str(text).translate(_CONTROL)


def format_text(info: dict[str, Any], indent: str = "") -> str:
    """A human-readable report of ``describe``'s result."""
    kind = "MultiRLModule" if info["kind"] == "multi_rl_module" else "RLModule"
    verdict = "OK" if info["checksums_ok"] else "FAILED - " + str(info["checksum_error"])
    checksums = f"{info['digest']}: {verdict}"
    rows = [
        ("class", info["class"]),
        ("framework", info["framework"]),
        ("written by", f"rlmodule-core {info['library_version']} (format {info['format_version']})"),
        ("checksums", checksums),
    ]
    for key in ("observation_space", "action_space"):
        if info[key] is not None:
            rows.append((key.replace("_", " "), _space_text(info[key])))
    rows.append(("flags", f"inference_only={info['inference_only']} learner_only={info['learner_only']}"))
    if info["model_config"]:
        rows.append(
            ("model_config", ", ".join(f"{k}={v!r}" for k, v in sorted(info["model_config"].items()) if v is not None))
        )
    rows.append(("parameters", f"{info['num_parameters']:,} ({_bytes_text(info['num_bytes'])})"))
    lines = [f"{indent}{kind} checkpoint: {escape(info['path'])}"]
    lines += [f"{indent}  {label + ':':<19}{escape(value)}" for label, value in rows]
    if "parameters" in info:
        names = [escape(p["name"]) for p in info["parameters"]]
        width = max((len(n) for n in names), default=0)
        for name, p in zip(names, info["parameters"], strict=True):
            shape = str(tuple(p["shape"]))
            lines.append(f"{indent}    {name:<{width}}  {shape:<16} {p['dtype']}")
    for module_id, sub in info.get("modules", {}).items():
        lines.append(f"{indent}  module {escape(repr(module_id))}:")
        lines.append(format_text(sub, indent + "    "))
    return "\n".join(lines)


def _space_text(space: dict[str, Any]) -> str:
    kind = space.get("type")
    if kind == "Box":
        return f"Box(shape={tuple(space['shape'])}, dtype={space['dtype']}, low={space['low']}, high={space['high']})"
    if kind == "Discrete":
        return f"Discrete({space['n']}" + (f", start={space['start']})" if space.get("start") else ")")
    if kind in ("Dict", "Tuple"):
        subs = space["spaces"]
        items = subs.items() if isinstance(subs, dict) else enumerate(subs)
        return f"{kind}(" + ", ".join(f"{k}: {_space_text(v)}" for k, v in items) + ")"
    return str({k: v for k, v in space.items()})


def _bytes_text(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


__all__ = ["METADATA_FILE", "describe", "escape", "format_text"]
