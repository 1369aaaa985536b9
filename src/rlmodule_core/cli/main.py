"""The ``rlmodule`` command: train, eval, inspect and convert.

Run ``rlmodule --help`` (or ``python -m rlmodule_core --help``) for the commands.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence

from rlmodule_core._version import __version__

__all__ = ["build_parser", "EXIT_BROKEN_PIPE", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe


def _inspect(args: argparse.Namespace) -> int:
    from pathlib import Path

    if Path(args.path).is_file():
        from rlmodule_core.cli.onnx import inspect_onnx

        return inspect_onnx(args.path, args.json)
    from rlmodule_core.checkpoint.inspect import describe, format_text

    info = describe(args.path)
    # json.dumps escapes control characters itself; the text form escapes them explicitly.
    print(json.dumps(info, indent=2) if args.json else format_text(info))
    return EXIT_OK if info["checksums_ok"] else EXIT_FAILED


def _convert(args: argparse.Namespace) -> int:
    from rlmodule_core.cli.convert import convert_checkpoint

    report = convert_checkpoint(
        args.path, args.to, args.out, inference_only=args.inference_only, atol=args.atol,
        trust_code=args.trust_code,
    )
    slim = " (inference-only)" if report.inference_only else ""
    print(
        f"Converted {report.source} ({report.source_framework}) -> {report.output} "
        f"({report.target_framework}){slim}.\n"
        f"Verified: {report.outputs_compared} forward_inference outputs match the NumPy reference "
        f"(max abs diff {report.max_abs_diff:.2e})."
    )
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    from rlmodule_core.train.loop import train

    result = train(
        args.algo, args.env, framework=args.framework, config=args.config, seed=args.seed,
        steps=args.steps, out=args.out, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
        stop_at_solve=not args.no_early_stop, solve_return=args.solve_return, resume=args.resume,
        num_env_runners=args.num_env_runners, threads=args.threads, overrides=args.set, env_config=args.env_config,
        confirm_episodes=args.confirm_episodes, tensorboard=args.tensorboard, policies=args.policies,
    )
    if result.solved:
        train_return = "n/a" if result.solve_train_return is None else f"{result.solve_train_return:.1f}"
        solved = (
            f"solved (confirmed: {result.solve_confirm_return:.1f} over {args.confirm_episodes} fresh greedy "
            f"episodes) after {result.solve_env_steps:,} env steps in {result.solve_time_s:.0f} s, "
            f"training return then {train_return}"
        )
    else:
        solved = "not solved"
    final = "n/a" if result.final_eval_return is None else f"{result.final_eval_return:.1f}"
    train_now = "n/a" if result.train_return is None else f"{result.train_return:.1f}"
    print(
        f"{result.env_steps:,} env steps in {result.wall_time_s:.0f} s ({result.steps_per_s:,.0f} steps/s training; "
        f"evaluation {result.eval_share:.0%} of the time); {solved}; final evaluation return {final}, "
        f"training return (last 100 episodes) {train_now}.\n"
        f"Run directory: {result.out} (checkpoint/, metrics.csv, metrics.json, learning_curve.png)"
    )
    if result.interrupted:
        print(f"Interrupted by {result.interrupted}; continue with: rlmodule train --resume {result.out}")
        return 128 + int(getattr(signal.Signals, result.interrupted))
    return EXIT_OK


def _eval_multi_agent(args: argparse.Namespace) -> int:
    import numpy as np

    from rlmodule_core.train.multi_agent.run import evaluate_multi_agent_checkpoint

    scores, metrics, module = evaluate_multi_agent_checkpoint(
        args.checkpoint, args.env, episodes=args.episodes, framework=args.framework, trust_code=args.trust_code,
    )
    print(f"{len(scores)} greedy episodes on {module.framework}, every agent with its module:")
    for key, value in metrics.items():
        name = key.removesuffix("/eval_return_mean")
        kind = "agent " + name.removeprefix("agent/") if name.startswith("agent/") else "module " + name
        print(f"  {kind}: return {value:.1f}")
    print(f"  lowest module per episode: {np.mean(scores):.1f} ± {np.std(scores):.1f}")
    return EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    import numpy as np

    from rlmodule_core.train.loop import evaluate_checkpoint
    from rlmodule_core.train.multi_agent.run import is_multi_agent_checkpoint

    if is_multi_agent_checkpoint(args.checkpoint):
        return _eval_multi_agent(args)

    returns, module = evaluate_checkpoint(
        args.checkpoint, args.env, episodes=args.episodes, framework=args.framework, trust_code=args.trust_code,
    )
    print(
        f"{len(returns)} greedy episodes on {module.framework}: return {np.mean(returns):.1f} ± {np.std(returns):.1f} "
        f"(min {np.min(returns):.1f}, max {np.max(returns):.1f})"
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlmodule",
        description=(
            "Framework-agnostic RL modules. Checkpoints written by any backend (torch, tf, jax, "
            "numpy) can be inspected without a framework and converted to any installed one."
        ),
        epilog="Exit status: 0 success, 1 a check failed (a corrupted, malformed or untrusted "
        "checkpoint), 2 bad usage.",
    )
    parser.add_argument("--version", action="version", version=f"rlmodule-core {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        help="train an algorithm on a gymnasium env (the main job)",
        description=(
            "Train PPO, DQN or SAC with the algorithm's default module on any training backend, "
            "evaluating the greedy policy periodically. PPO handles Box, Discrete, MultiDiscrete and nested "
            "Tuple/Dict action spaces, DQN Discrete "
            "actions, SAC a 1-D Box with finite bounds (squashed Gaussian) or Discrete actions; recurrent "
            "PPO (an LSTM policy with its state carried across steps) is --algo ppo --set "
            "model.use_lstm=true. Stops when solved or after --steps. Solved means confirmed: when a "
            "periodic evaluation (--eval-episodes) reaches the env's reward threshold (e.g. 475 for "
            "CartPole-v1, -200 for Pendulum-v1), "
            "--confirm-episodes more greedy episodes on fresh seeds must reach it too, else training "
            "goes on; the checkpoint at the stop is the confirmed policy. Writes OUT/checkpoint (learner "
            "state; the module checkpoint is OUT/checkpoint/module), metrics.csv (appended as each "
            "iteration ends), metrics.json and learning_curve.png. Ctrl-C (SIGINT) or SIGTERM ends the "
            "run after the current iteration with all of these written. Bad input (unknown env, "
            "algorithm, framework or config key; an action space the algorithm cannot handle; LSTM "
            "settings or --num-env-runners the algorithm cannot use) fails before training starts."
        ),
        epilog=(
            "Examples: rlmodule train --algo ppo --env CartPole-v1 --framework jax --seed 1; "
            "rlmodule train --algo sac --env Pendulum-v1; "
            "rlmodule train --algo ppo --env StatelessCartPole-v1 --set model.use_lstm=true. "
            "Exit status: 0 done, 2 bad input, 128+N stopped by signal N (resume with --resume OUT)."
        ),
    )
    train.add_argument("--algo", default="ppo", help="ppo, dqn or sac (default ppo); multi-agent envs: ppo or dqn")
    train.add_argument("--env", default="CartPole-v1",
                       help="a gymnasium env id (default CartPole-v1), a built-in one (StatelessCartPole-v1: CartPole "
                            "without the velocities), a multi-agent env (MultiAgentCartPole-v1) "
                            "or pettingzoo:<module or registry id> (e.g. pettingzoo:pettingzoo.classic.rps_v2, "
                            "pettingzoo:classic/rps-v2)")
    train.add_argument("--framework", default=None,
                       help="torch, tf, jax (default: $RLMODULE_FRAMEWORK, else torch)")
    train.add_argument("--config", default=None, metavar="FILE",
                       help="a .toml or .json file of algorithm settings (keys of PPOConfig, DQNConfig or SACConfig)")
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override one config key (repeatable); dotted keys reach into tables, values are TOML: "
             "--set lr=1e-3 --set model.use_lstm=true --set model.fcnet_hiddens=[32,32]",
    )
    train.add_argument("--env-config", default=None, metavar="JSON",
                       help="keyword arguments of the env as a JSON object, e.g. '{\"max_episode_steps\": 200}'")
    train.add_argument("--seed", type=int, default=0, help="seeds weights, envs and sampling (default 0)")
    train.add_argument("--steps", type=int, default=None, help="env steps (default ppo 500000, dqn 100000, sac 50000)")
    train.add_argument("--out", default=None, help="run directory (default runs/<algo>-<env>-<framework>-<time>)")
    train.add_argument("--eval-every", type=int, default=None, help="env steps between evaluations (default ppo 10240, dqn 10000, sac 5000)")
    train.add_argument("--eval-episodes", type=int, default=20, help="episodes per evaluation (default 20)")
    train.add_argument("--confirm-episodes", type=int, default=100,
                       help="greedy episodes on fresh seeds that confirm a solve (default 100)")
    train.add_argument("--no-early-stop", action="store_true",
                       help="train all --steps even when solved (the first confirmed solve is still reported)")
    train.add_argument("--tensorboard", action="store_true",
                       help="also write TensorBoard event files to OUT/tensorboard (needs tensorboard)")
    train.add_argument("--solve-return", type=float, default=None,
                       help="evaluation return that counts as solved (default: the env's reward threshold)")
    train.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR")
    train.add_argument(
        "--num-env-runners", type=int, default=None, metavar="N",
        help="sample on N Ray actors (ppo without an LSTM, dqn; needs the ray extra); 0, the default, "
             "samples in this process",
    )
    train.add_argument(
        "--policies", default=None, choices=["independent", "shared"],
        help="multi-agent envs: one module per agent (module ID = agent ID) or one shared module "
             "(default: shared when all agents have the same spaces); a mapping goes in the config "
             "file's [multi_agent] table",
    )
    train.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="framework threads per process, here and in each env runner (default 1: fastest for "
             "small models, and several runs side by side share the cores)",
    )
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "eval",
        help="play greedy episodes with a saved policy, on any backend",
        description=(
            "Restore a checkpoint (a module checkpoint, a learner checkpoint or a run directory) as "
            "an inference-only module on FRAMEWORK and report the return over --episodes episodes."
        ),
        epilog="Example: rlmodule eval runs/ppo/checkpoint/module --env CartPole-v1 --framework numpy",
    )
    evaluate.add_argument("checkpoint", help="module checkpoint, learner checkpoint or run directory")
    evaluate.add_argument("--env", default=None, help="gymnasium env id (default: the run's env)")
    evaluate.add_argument("--episodes", type=int, default=20, help="episodes (default 20)")
    evaluate.add_argument("--framework", default=None, help="restore on this backend (default: the recorded one)")
    _add_trust_code(evaluate)
    evaluate.set_defaults(run=_eval)

    inspect = commands.add_parser(
        "inspect",
        help="show what a checkpoint holds and whether its checksums hold",
        description=(
            "Print the module class, framework, spaces, model config, every parameter with shape "
            "and dtype, the parameter count and size, the sub-modules of a MultiRLModule, and "
            "whether every file matches its recorded checksum, naming the algorithm (BLAKE3 for "
            "format version 2, sha256 for checkpoints of format version 1). Reads only JSON and "
            "the files' bytes: no framework is imported."
        ),
    )
    inspect.add_argument("path", help="a checkpoint directory (written by save_to_path), or an exported .onnx file")
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
    _add_trust_code(convert)
    convert.set_defaults(run=_convert)

    from rlmodule_core.cli.onnx import add_export_parser

    add_export_parser(commands, _add_trust_code)
    return parser


def _add_trust_code(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-code", action="store_true",
        help="import the module classes the checkpoint names (runs their code; only for "
             "checkpoints from a source you trust). Without it, only rlmodule-core's, the "
             "backends' and registered classes restore.",
    )


def _one_line(err: BaseException) -> str:
    from rlmodule_core.checkpoint.inspect import escape

    return escape(" ".join(str(err).split("\n")))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rlmodule`` console script.

    Any problem with a checkpoint prints one line and exits 1; bad usage exits 2.
    """
    from rlmodule_core.checkpoint import CheckpointError, NotACheckpointError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except NotACheckpointError as err:  # a wrong path is a usage error, not a bad checkpoint
        print(f"rlmodule {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except CheckpointError as err:
        print(f"rlmodule {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_FAILED
    except (ImportError, ValueError, KeyError, TypeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"rlmodule {args.command}: error: {_one_line(message)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader left (`rlmodule inspect CKPT | head`): stop quietly, as Unix tools do.
        # Pointing stdout at /dev/null keeps the interpreter's final flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
