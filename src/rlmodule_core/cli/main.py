"""The ``rlmodule`` command: train, eval, inspect and convert.

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
    from rlmodule_core.checkpoint.inspect import describe, format_text

    info = describe(args.path)
    print(json.dumps(info, indent=2) if args.json else format_text(info))
    return EXIT_OK if info["checksums_ok"] else EXIT_FAILED


def _convert(args: argparse.Namespace) -> int:
    from rlmodule_core.cli.convert import convert_checkpoint

    report = convert_checkpoint(args.path, args.to, args.out, inference_only=args.inference_only, atol=args.atol)
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
        num_env_runners=args.num_env_runners, env_config=_env_config(args.env_config), policies=args.policies,
    )
    solved = (
        f"solved after {result.solve_env_steps:,} env steps in {result.solve_time_s:.0f} s"
        if result.solved else "not solved"
    )
    final = "n/a" if result.final_eval_return is None else f"{result.final_eval_return:.1f}"
    print(
        f"{result.env_steps:,} env steps in {result.wall_time_s:.0f} s ({result.steps_per_s:,.0f} steps/s); "
        f"{solved}; final evaluation return {final}.\n"
        f"Run directory: {result.out} (checkpoint/, metrics.csv, metrics.json, learning_curve.png)"
    )
    return EXIT_OK


def _env_config(text: str | None) -> dict | None:
    """``--env-config`` JSON -> the env constructor's keyword arguments."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--env-config expects a JSON object such as '{{\"num_agents\": 2}}'; {err} in {text!r}.") from None
    if not isinstance(value, dict):
        raise ValueError(f"--env-config expects a JSON object such as '{{\"num_agents\": 2}}'; received {text!r}.")
    return value


def _eval_multi_agent(args: argparse.Namespace) -> int:
    import numpy as np

    from rlmodule_core.train.multi_agent.run import evaluate_multi_agent_checkpoint

    scores, metrics, module = evaluate_multi_agent_checkpoint(
        args.checkpoint, args.env, episodes=args.episodes, framework=args.framework,
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

    from rlmodule_core.train.multi_agent.run import is_multi_agent_checkpoint

    if is_multi_agent_checkpoint(args.checkpoint):
        return _eval_multi_agent(args)

    from rlmodule_core.train.loop import evaluate_checkpoint

    returns, module = evaluate_checkpoint(args.checkpoint, args.env, episodes=args.episodes, framework=args.framework)
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
        epilog="Exit status: 0 success, 1 a check failed (corrupted checkpoint), 2 bad input.",
    )
    parser.add_argument("--version", action="version", version=f"rlmodule-core {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        help="train an algorithm on a gymnasium env (the main job)",
        description=(
            "Train PPO or DQN with the default module on any backend, evaluating the greedy policy "
            "periodically. Stops when the evaluation return reaches the env's reward threshold "
            "(e.g. 475 for CartPole-v1) or after --steps. Writes OUT/checkpoint (learner state; the "
            "module checkpoint is OUT/checkpoint/module), metrics.csv, metrics.json and "
            "learning_curve.png. Bad input (unknown env, algorithm, framework or config key; an "
            "action space the algorithm cannot handle) fails before training starts."
        ),
        epilog="Example: rlmodule train --algo ppo --env CartPole-v1 --framework jax --seed 1",
    )
    train.add_argument("--algo", default="ppo", help="ppo or dqn (default ppo)")
    train.add_argument("--env", default="CartPole-v1",
                       help="a gymnasium env id (default CartPole-v1), a multi-agent env (MultiAgentCartPole-v1) "
                            "or pettingzoo:<module or registry id> (e.g. pettingzoo:pettingzoo.classic.rps_v2, "
                            "pettingzoo:classic/rps-v2)")
    train.add_argument("--framework", default=None,
                       help="torch, tf, jax (default: $RLMODULE_FRAMEWORK, else torch)")
    train.add_argument("--config", default=None, metavar="FILE",
                       help="a .toml or .json file of algorithm settings (keys of PPOConfig/DQNConfig)")
    train.add_argument("--seed", type=int, default=0, help="seeds weights, envs and sampling (default 0)")
    train.add_argument("--steps", type=int, default=None, help="env steps (default ppo 500000, dqn 100000)")
    train.add_argument("--out", default=None, help="run directory (default runs/<algo>-<env>-<framework>-<time>)")
    train.add_argument("--eval-every", type=int, default=None, help="env steps between evaluations")
    train.add_argument("--eval-episodes", type=int, default=20, help="episodes per evaluation (default 20)")
    train.add_argument("--no-early-stop", action="store_true", help="train all --steps even when solved")
    train.add_argument("--solve-return", type=float, default=None,
                       help="evaluation return that counts as solved (default: the env's reward threshold)")
    train.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR")
    train.add_argument(
        "--num-env-runners", type=int, default=None, metavar="N",
        help="sample on N Ray actors (ppo; needs the ray extra); 0, the default, samples in this process",
    )
    train.add_argument("--env-config", default=None, metavar="JSON",
                       help="the env constructor's keyword arguments, e.g. '{\"num_agents\": 2}'")
    train.add_argument(
        "--policies", default=None, choices=["independent", "shared"],
        help="multi-agent envs: one module per agent (module ID = agent ID) or one shared module "
             "(default: shared when all agents have the same spaces); a mapping goes in the config "
             "file's [multi_agent] table",
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
    evaluate.set_defaults(run=_eval)

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
