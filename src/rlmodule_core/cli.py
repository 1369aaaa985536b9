"""The ``rlmodule`` command: inspect and convert checkpoints.

Run ``rlmodule --help`` (or ``python -m rlmodule_core --help``) for the commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rlmodule_core._version import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _inspect(args: argparse.Namespace) -> int:
    from rlmodule_core.checkpoint_info import describe, format_text

    info = describe(args.path)
    print(json.dumps(info, indent=2) if args.json else format_text(info))
    return EXIT_OK if info["checksums_ok"] else EXIT_FAILED


def _convert(args: argparse.Namespace) -> int:
    from rlmodule_core.convert import convert_checkpoint

    report = convert_checkpoint(args.path, args.to, args.out, inference_only=args.inference_only, atol=args.atol)
    slim = " (inference-only)" if report.inference_only else ""
    print(
        f"Converted {report.source} ({report.source_framework}) -> {report.output} "
        f"({report.target_framework}){slim}.\n"
        f"Verified: {report.outputs_compared} forward_inference outputs match the NumPy reference "
        f"(max abs diff {report.max_abs_diff:.2e})."
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlmodule",
        description=(
            "Framework-agnostic RL modules. Checkpoints written by any backend (torch, tf, jax, "
            "numpy) can be inspected without a framework and converted to any installed one."
        ),
        epilog="Exit status: 0 success, 1 a check failed (corrupted checkpoint), 2 bad input.",
    )
    parser.add_argument("--version", action="version", version=f"rlmodule-core {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    inspect = commands.add_parser(
        "inspect",
        help="show what a checkpoint holds and whether its checksums hold",
        description=(
            "Print the module class, framework, spaces, model config, every parameter with shape "
            "and dtype, the parameter count and size, the sub-modules of a MultiRLModule, and "
            "whether every file matches its recorded sha256. Reads only JSON and the safetensors "
            "header: no framework is imported."
        ),
    )
    inspect.add_argument("path", help="a checkpoint directory (written by save_to_path)")
    inspect.add_argument("--json", action="store_true", help="print machine-readable JSON")
    inspect.set_defaults(run=_inspect)

    convert = commands.add_parser(
        "convert",
        help="rewrite a checkpoint for another framework, verifying outputs first",
        description=(
            "Restore the checkpoint on FRAMEWORK, compare its forward_inference outputs with the "
            "NumPy reference on sampled observations, and only then write OUT. Works for modules "
            "written against the neutral API (self.nn/self.ops), e.g. the default PPO/DQN/SAC modules."
        ),
    )
    convert.add_argument("path", help="the source checkpoint directory")
    convert.add_argument("out", help="where to write the converted checkpoint")
    convert.add_argument("--to", required=True, metavar="FRAMEWORK", help="torch, tf, jax or numpy (or an alias)")
    convert.add_argument(
        "--inference-only", action="store_true",
        help="drop training-only parameters (value heads, critics, target networks)",
    )
    convert.add_argument("--atol", type=float, default=1e-4, help="allowed output difference (default 1e-4)")
    convert.set_defaults(run=_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rlmodule`` console script."""
    from rlmodule_core.checkpoint import CorruptCheckpointError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CorruptCheckpointError as err:
        print(f"rlmodule {args.command}: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except (ImportError, ValueError, KeyError) as err:
        print(f"rlmodule {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
