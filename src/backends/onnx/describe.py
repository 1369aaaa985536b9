"""What an exported ONNX file holds: its rlmodule metadata, inputs, outputs and size."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from .export import METADATA_PREFIX

__all__ = ["describe"]

_JSON_FIELDS = ("observation_space", "action_space", "model_config", "with_actions")


def _dims(value_info: Any) -> list[Any]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _io(value_infos: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": v.name,
            "dtype": str(helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)),
            "shape": _dims(v),
        }
        for v in value_infos
    ]


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON-able description of the ONNX file at ``path``.

    Keys: ``path``, ``kind`` (``"onnx"``), ``opset``, ``ir_version``, ``producer``,
    ``metadata`` (the ``rlmodule.*`` properties, JSON fields decoded), ``inputs`` and
    ``outputs`` (``[{name, dtype, shape}]``, run-time dims by name), ``num_parameters``,
    ``num_bytes`` (file size) and ``nodes`` (count per op type).

    Raises:
        ValueError: the file is not a readable ONNX model.
    """
    file = Path(path)
    try:
        model = onnx.load(str(file))
    except Exception as err:  # onnx raises DecodeError, OSError, ...: one message for all
        raise ValueError(f"{file} is not a readable ONNX model ({type(err).__name__}: {err}).") from err
    props = {p.key[len(METADATA_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(METADATA_PREFIX)}
    for key in _JSON_FIELDS:
        if key in props:
            try:
                props[key] = json.loads(props[key])
            except json.JSONDecodeError:
                pass  # shown as written
    nodes: dict[str, int] = {}
    for node in model.graph.node:
        nodes[node.op_type] = nodes.get(node.op_type, 0) + 1
    initializer_names = {t.name for t in model.graph.initializer}
    return {
        "path": str(file.absolute()),
        "kind": "onnx",
        "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "metadata": props,
        "inputs": [i for i in _io(model.graph.input) if i["name"] not in initializer_names],
        "outputs": _io(model.graph.output),
        "num_parameters": int(sum(np.prod(t.dims, dtype=np.int64) for t in model.graph.initializer)),
        "num_bytes": file.stat().st_size,
        "nodes": dict(sorted(nodes.items())),
    }
