"""The ``rlmodule export`` command and ``rlmodule inspect`` of an exported ``.onnx`` file."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_export_parser", "format_onnx", "inspect_onnx"]


def _export(args: argparse.Namespace) -> int:
    from rlmodule_core.onnx_export import export_onnx

    path = export_onnx(
        args.checkpoint, args.out, opset=args.opset, phase=args.phase, with_actions=args.with_actions,
        trust_code=args.trust_code,
    )
    info = _describe(path)
    inputs = ", ".join(i["name"] for i in info["inputs"])
    outputs = ", ".join(o["name"] for o in info["outputs"])
    print(
        f"Exported {args.checkpoint} -> {path} (opset {info['opset']}, {info['num_parameters']:,} parameters, "
        f"{info['num_bytes']:,} bytes; onnx.checker passed).\nInputs: {inputs}\nOutputs: {outputs}"
    )
    if not args.verify:
        return 0
    from rlmodule_core.backend import registry

    worst, count = registry.get_backend("onnx").verify_onnx(path, args.checkpoint, trust_code=args.trust_code)
    verdict = "match" if worst <= args.atol else "DIFFER"
    print(f"Verified with ONNX Runtime: {count} outputs {verdict} the module's forward pass "
          f"(max abs diff {worst:.2e}, allowed {args.atol:g}).")
    return 0 if worst <= args.atol else 1


def add_export_parser(commands: Any, add_trust_code: Any) -> None:
    """Adds ``export`` to the ``rlmodule`` sub-commands (``add_trust_code`` adds ``--trust-code``)."""
    export = commands.add_parser(
        "export",
        help="write a checkpoint's policy as an ONNX model (no framework needed)",
        description=(
            "Rebuild the checkpoint's module (written by any backend) and write its forward pass "
            "as an ONNX model: inputs named after the batch columns (obs, obs.<key>, state_in.<key>), "
            "outputs action_dist_inputs (and actions, state_out.<key>), a dynamic batch axis, and the "
            "spaces and classes in metadata_props. Needs only the onnx package "
            '(pip install "rlmodule-core[onnx]"). See docs/deployment-onnx.md.'
        ),
        epilog="Example: rlmodule export runs/ppo/checkpoint/module policy.onnx --with-actions",
    )
    export.add_argument("checkpoint", help="module checkpoint, learner checkpoint or run directory")
    export.add_argument("out", help="the .onnx file to write")
    export.add_argument("--opset", type=int, default=None, help="ONNX opset, 15 to 21 (default 17)")
    export.add_argument("--with-actions", action="store_true",
                        help="also output the greedy actions (argmax, mean or squashed mean; Q modules' own)")
    export.add_argument("--phase", default="inference", choices=("inference", "exploration", "train"),
                        help="which forward pass to export (default inference)")
    export.add_argument("--verify", action="store_true",
                        help="run the file with ONNX Runtime (pip install onnxruntime) against the checkpoint's "
                             "module on sampled observations; exit 1 if they differ")
    export.add_argument("--atol", type=float, default=1e-5, help="allowed difference for --verify (default 1e-5)")
    add_trust_code(export)
    export.set_defaults(run=_export)


def _describe(path: str) -> dict[str, Any]:
    from rlmodule_core.backend import registry

    return registry.get_backend("onnx").describe_onnx(path)


def format_onnx(info: dict[str, Any]) -> str:
    """The human-readable form of an ONNX file's description."""
    meta = info["metadata"]

    def tensors(items: list[dict[str, Any]]) -> list[str]:
        return [f"  {t['name']:<24} {t['dtype']:<8} [{', '.join(map(str, t['shape']))}]" for t in items]

    lines = [
        f"ONNX model {info['path']}",
        f"  opset {info['opset']}, IR version {info['ir_version']}, producer {info['producer'] or '-'}",
        f"  {info['num_parameters']:,} parameters, {info['num_bytes']:,} bytes, "
        f"{sum(info['nodes'].values())} nodes ({', '.join(f'{k} {v}' for k, v in info['nodes'].items())})",
    ]
    if meta:
        lines += [
            f"module class:        {meta.get('module_class', '-')}",
            f"action distribution: {meta.get('action_dist_class') or '-'}",
            f"exported from:       {meta.get('source_framework') or '-'} (rlmodule-core {meta.get('library_version', '?')}), "
            f"phase {meta.get('phase', '?')}, with actions: {meta.get('with_actions', '?')}",
            f"observation space:   {json.dumps(meta.get('observation_space'))}",
            f"action space:        {json.dumps(meta.get('action_space'))}",
        ]
    else:
        lines.append("no rlmodule metadata (not exported by rlmodule-core)")
    return "\n".join([*lines, "inputs:", *tensors(info["inputs"]), "outputs:", *tensors(info["outputs"])])


def inspect_onnx(path: str, as_json: bool) -> int:
    """Prints what the ONNX file at ``path`` holds; exit status 0."""
    info = _describe(path)
    print(json.dumps(info, indent=2) if as_json else format_onnx(info))
    return 0
