"""Checking an exported file: ONNX Runtime against the module's own forward pass.

``rlmodule export --verify`` runs this after writing the file, as ``rlmodule convert``
compares a converted checkpoint before saving it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from rlmodule_core.checkpoint import read_metadata, resolve_class

from .export import (
    METADATA_PREFIX,
    _is_native,
    _module_dir,
    add_actions,
    assemble_batch,
    example_inputs,
    flat_outputs,
    input_specs,
)

__all__ = ["verify"]


def _reference(source: Any, phase: str, trust_code: bool) -> Any:
    """The module to compare with: a neutral checkpoint on NumPy, a native one on its framework."""
    from rlmodule_core.rl_module import RLModule

    if isinstance(source, RLModule):
        if source.framework == "onnx":
            raise ValueError("Verify against a module that computes (e.g. the checkpoint), not an onnx-backend module.")
        return source
    path = _module_dir(Path(source))
    # from_checkpoint below verifies every file as it reads it: no second hashing pass here.
    native = _is_native(resolve_class(read_metadata(path, verify=False)["class"], trust_code=trust_code))
    flags: dict[str, Any] = {"trust_code": trust_code}
    if phase != "train":
        flags["inference_only"] = True
    if not native:
        flags["framework"] = "numpy"
    return RLModule.from_checkpoint(path, **flags)


def verify(
    onnx_path: str | os.PathLike, source: Any, *, batch_size: int = 4, seed: int = 0, trust_code: bool = False
) -> tuple[float, int]:
    """Runs the file with ONNX Runtime and the source module on the same sampled inputs.

    Returns ``(largest absolute difference, number of outputs compared)``.

    Example:
        >>> verify("policy.onnx", "runs/ppo/checkpoint/module")
        (4.5e-08, 2)

    Raises:
        ImportError: onnxruntime is not installed.
        ValueError: the outputs have different names or shapes.
    """
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(
            "Verifying an exported model runs it with ONNX Runtime, which is not installed: "
            "pip install onnxruntime (or export without --verify)."
        ) from err
    props = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
    phase = props.get(METADATA_PREFIX + "phase", "inference")
    with_actions = props.get(METADATA_PREFIX + "with_actions") == "true"
    reference = _reference(source, phase, trust_code)
    specs = input_specs(reference)
    values = example_inputs(specs, batch=batch_size, seed=seed)
    out = getattr(reference, f"forward_{phase}")(assemble_batch(specs, values))
    if with_actions:
        out = add_actions(reference, out, phase)
    ops = reference.backend.ops
    want = {name: np.asarray(ops.to_numpy(value)) for name, value in flat_outputs(out)}
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {s.name: v for s, v in zip(specs, values)})))
    if sorted(got) != sorted(want):
        raise ValueError(f"The ONNX outputs {sorted(got)} differ from the module's {sorted(want)}.")
    worst = 0.0
    for name, value in want.items():
        if got[name].shape != value.shape:
            raise ValueError(f"ONNX output {name!r} has shape {got[name].shape}; the module's has {value.shape}.")
        if value.size:
            worst = max(worst, float(np.max(np.abs(value.astype(np.float64) - got[name].astype(np.float64)))))
    return worst, len(want)
