"""What a checkpoint holds, read without building the module or importing a framework."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rlmodule_core.checkpoint import (
    METADATA_FILE,
    CheckpointError,
    read_metadata,
    verify_checkpoint,
)


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON-able description of the checkpoint at ``path``.

    Keys: ``path``, ``kind``, ``class``, ``framework``, ``library_version``,
    ``format_version``, ``observation_space``, ``action_space``, ``inference_only``,
    ``learner_only``, ``model_config``, ``checksums_ok`` and ``checksum_error``, and for a
    single module ``parameters`` (``[{name, shape, dtype, bytes}]``), ``num_parameters``
    and ``num_bytes``; for a MultiRLModule ``modules`` (``{module_id: description}``).

    Raises:
        CheckpointError: no checkpoint at ``path`` (missing, or no readable metadata).
    """
    directory = Path(path)
    metadata = read_metadata(directory, verify=False)
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
            sub = describe(directory / module_id)
            info["modules"][module_id] = sub
            if not sub["checksums_ok"] and info["checksums_ok"]:
                info["checksums_ok"], info["checksum_error"] = False, sub["checksum_error"]
        info["num_parameters"] = sum(m["num_parameters"] for m in info["modules"].values())
        info["num_bytes"] = sum(m["num_bytes"] for m in info["modules"].values())
        return info
    params = _parameters(directory / metadata.get("state_file", "module_state.safetensors"))
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
    """Names, shapes and dtypes from the safetensors header (no tensor data is read)."""
    import json
    import struct

    try:
        with open(state_file, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
    except (OSError, struct.error, ValueError) as err:
        raise CheckpointError(f"Checkpoint file {state_file} cannot be read: {err}") from err
    params = []
    for name in sorted(k for k in header if k != "__metadata__"):
        entry = header[name]
        start, end = entry["data_offsets"]
        params.append(
            {"name": name, "shape": list(entry["shape"]), "dtype": entry["dtype"], "bytes": end - start}
        )
    return params


def format_text(info: dict[str, Any], indent: str = "") -> str:
    """A human-readable report of :func:`describe`'s result."""
    kind = "MultiRLModule" if info["kind"] == "multi_rl_module" else "RLModule"
    checksums = "OK" if info["checksums_ok"] else "FAILED - " + str(info["checksum_error"])
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
    lines = [f"{indent}{kind} checkpoint: {info['path']}"]
    lines += [f"{indent}  {label + ':':<19}{value}" for label, value in rows]
    if "parameters" in info:
        width = max((len(p["name"]) for p in info["parameters"]), default=0)
        for p in info["parameters"]:
            shape = str(tuple(p["shape"]))
            lines.append(f"{indent}    {p['name']:<{width}}  {shape:<16} {p['dtype']}")
    for module_id, sub in info.get("modules", {}).items():
        lines.append(f"{indent}  module {module_id!r}:")
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


__all__ = ["METADATA_FILE", "describe", "format_text"]
