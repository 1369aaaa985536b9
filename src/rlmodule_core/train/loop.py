"""The main job: train an algorithm on an env, evaluate, and write the run directory.

A run directory holds ``run.json`` (settings, for ``--resume``), ``metrics.csv`` and
``metrics.json``, ``learning_curve.png`` and ``checkpoint/`` (the learner state; the
module checkpoint is ``checkpoint/module``, which ``rlmodule eval`` and
``RLModule.from_checkpoint`` read).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlmodule_core.backend import registry
from rlmodule_core.train.progress import Progress

__all__ = [
    "build_config",
    "DEFAULT_EVAL_EVERY",
    "DEFAULT_STEPS",
    "evaluate_checkpoint",
    "RUN_FILE",
    "RunResult",
    "train",
]

RUN_FILE = "run.json"
#: Seeds of the evaluation envs: periodic evaluation k uses EVAL_SEED + 1000 k, confirmation
#: c uses CONFIRM_SEED + 1000 c (fresh start states each time; training envs use the run's
#: seed). Held-out checks should use seeds beyond both ranges.
EVAL_SEED, CONFIRM_SEED = 100_000, 500_000
#: The module checkpoint of the confirmed policy, written at the solve.
SOLVED_MODULE = "solved_module"
DEFAULT_STEPS = {"ppo": 500_000, "dqn": 100_000, "sac": 50_000}
DEFAULT_EVAL_EVERY = {"ppo": 10_240, "dqn": 10_000, "sac": 5_000}


@dataclasses.dataclass
class RunResult:
    """What a run produced.

    ``solved`` means confirmed: a periodic evaluation reached the threshold and a larger
    evaluation on fresh seeds (``confirm_episodes``) did too. ``solve_*`` describe that
    moment (also when the run trained on with ``stop_at_solve=False``).
    """

    out: str
    env_steps: int
    wall_time_s: float
    solved: bool
    solve_env_steps: int | None
    solve_time_s: float | None
    final_eval_return: float | None
    steps_per_s: float
    solve_confirm_return: float | None = None
    solve_train_return: float | None = None
    train_return: float | None = None
    eval_share: float = 0.0
    interrupted: str | None = None


def _algorithm(name: str):
    from rlmodule_core.train.algorithms import ALGORITHMS

    key = name.lower()
    if key not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {name!r}. Expected one of: {', '.join(sorted(ALGORITHMS))}.")
    return key, ALGORITHMS[key]


def build_config(
    algo: str, config: str | os.PathLike | dict[str, Any] | None,
    overrides: Sequence[str] | dict[str, Any] | None = None,
) -> Any:
    """The algorithm's config from defaults, a dict, or a .toml/.json file, then ``overrides``
    (``--set`` items such as ``"model.use_lstm=true"``, or the nested dict they parse to).

    Unknown keys raise, in the file and in ``overrides`` alike, also inside ``model``.

    Example:
        >>> build_config("ppo", None, ["lr=1e-3", "model.fcnet_hiddens=[32]"]).model["fcnet_hiddens"]
        [32]
    """
    from rlmodule_core.model_config import DefaultModelConfig
    from rlmodule_core.train.learner import config_from_json
    from rlmodule_core.train.overrides import apply_overrides, parse_overrides

    _, cls = _algorithm(algo)
    built = config_from_json(cls.config_class, config or {})
    if overrides:
        parsed = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
        built = config_from_json(cls.config_class, apply_overrides(dataclasses.asdict(built), parsed))
    model = getattr(built, "model", None)
    if model is not None:
        if not isinstance(model, dict):
            raise ValueError(f"Expected the config's model to be a table of model_config keys; received {model!r}.")
        names = {f.name for f in dataclasses.fields(DefaultModelConfig)} | set(cls.extra_model_keys) | {"seed"}
        unknown = sorted(set(model) - names)
        if unknown:
            raise ValueError(
                f"Unknown model keys {unknown} for {cls.__name__}. Valid keys: {', '.join(sorted(names))}."
            )
    return built


#: Solve thresholds of envs gymnasium registers without a reward_threshold.
KNOWN_THRESHOLDS = {"Pendulum-v1": -200.0}


def _solve_threshold(env: str) -> float | None:
    import gymnasium as gym

    from rlmodule_core.envs.multi_agent import is_multi_agent_env, multi_agent_reward_threshold

    if is_multi_agent_env(env):
        return multi_agent_reward_threshold(env)
    try:
        threshold = gym.spec(env).reward_threshold
    except gym.error.Error:
        return None
    return KNOWN_THRESHOLDS.get(env) if threshold is None else threshold


def train(
    algo: str,
    env: str,
    *,
    framework: str | None = None,
    config: str | os.PathLike | dict[str, Any] | None = None,
    seed: int = 0,
    steps: int | None = None,
    out: str | os.PathLike | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 20,
    stop_at_solve: bool = True,
    solve_return: float | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    num_env_runners: int | None = None,
    overrides: Sequence[str] | dict[str, Any] | None = None,
    env_config: str | dict[str, Any] | None = None,
    confirm_episodes: int = 100,
    tensorboard: bool = False,
    on_iteration: Callable[[dict[str, Any]], None] | None = None,
    handle_signals: bool = True,
    policies: str | None = None,
    threads: int | None = None,
) -> RunResult:
    """Trains until ``steps`` env steps, or until the policy is solved when
    ``stop_at_solve``, then writes the run directory.

    Solved means confirmed: when a periodic greedy evaluation (``eval_episodes``) reaches
    ``solve_return`` (default: the env's reward threshold), ``confirm_episodes`` more
    greedy episodes on fresh seeds must reach it too; otherwise training goes on. The
    checkpoint written at the stop is the confirmed policy. Without ``stop_at_solve`` the
    first confirmed solve is still recorded.

    Metrics are appended to ``metrics.csv`` as each iteration and evaluation ends;
    ``metrics.json`` is rewritten at each evaluation; ``tensorboard`` also writes event
    files under ``OUT/tensorboard``. With ``handle_signals`` (in the main thread), SIGINT
    and SIGTERM end the run after the current iteration with a checkpoint, metrics and the
    plot (``RunResult.interrupted`` names the signal). ``on_iteration`` is called with each
    iteration's metrics row after it (and any evaluation it triggered) is written; returning
    True ends the run there. The confirmed policy is also saved as ``OUT/solved_module``.

    Everything a user can get wrong (algorithm, framework, env id, config keys, action
    space) is checked before the first step.

    ``num_env_runners`` >= 1 samples on that many Ray actors (the ``ray`` extra); 0 (the
    default; on ``resume`` the run's own setting) samples in this process without Ray.
    ``overrides`` are ``--set KEY=VALUE`` items applied over ``config``; ``env_config``
    (a dict or a JSON object) holds keyword arguments of the env's constructor.
    ``threads`` is the framework's intra-op threads in this process and in each env runner
    (default 1, or the run's own setting on ``resume``: the small models of RL run fastest
    on one, and runs side by side then share the cores instead of oversubscribing them).

    A multi-agent env (``MultiAgentCartPole-v1``, ``pettingzoo:<module or id>``) trains a
    MultiRLModule, one module per agent or one shared (``policies``: "independent" or
    "shared"), or as the config file's ``[multi_agent]`` table maps them (see
    ``rlmodule_core.train.multi_agent`` and docs/multi-agent.md).

    Example:
        >>> result = train("ppo", "CartPole-v1", framework="jax", seed=1, out="runs/ppo-jax")
        >>> result.solved, result.solve_env_steps
    """
    from rlmodule_core.train.overrides import parse_env_config

    settings: dict[str, Any]
    if resume is not None:
        if overrides or env_config:
            raise ValueError(
                "A resumed run keeps its own config and env config (run.json); drop --set/--env-config, "
                "or start a new run with --out."
            )
        settings = json.loads((Path(resume) / RUN_FILE).read_text())
        if steps is not None:
            settings["steps"] = steps
        settings.setdefault("confirm_episodes", confirm_episodes)
        settings["stop_at_solve"] = stop_at_solve
        if num_env_runners is not None:
            settings["num_env_runners"] = num_env_runners
        if threads is not None:
            settings["threads"] = threads
        out = Path(resume)
    else:
        from rlmodule_core.train.multi_agent.run import split_config

        key, _ = _algorithm(algo)
        config, multi_agent = split_config(config, env, policies)
        settings = {
            "algo": key, "env": env, "framework": registry.resolve_framework(framework), "seed": seed,
            "steps": steps or DEFAULT_STEPS[key], "eval_every": eval_every or DEFAULT_EVAL_EVERY[key],
            "eval_episodes": eval_episodes, "confirm_episodes": confirm_episodes, "stop_at_solve": stop_at_solve, "solve_return": solve_return,
            "num_env_runners": num_env_runners or 0, "threads": 1 if threads is None else threads,
            "config": dataclasses.asdict(build_config(key, config, overrides)),
            "env_config": parse_env_config(env_config),
        }
        if multi_agent is not None:
            settings["multi_agent"] = multi_agent
        out = Path(out) if out is not None else Path("runs") / f"{key}-{env}-{settings['framework']}-{int(time.time())}"
        if (out / RUN_FILE).exists():
            raise ValueError(f"{out} already holds a run; continue it with --resume {out}, or pass another --out.")
    if settings["eval_episodes"] < 1 or settings["confirm_episodes"] < 1:
        raise ValueError(
            f"Expected eval_episodes >= 1 and confirm_episodes >= 1; received {settings['eval_episodes']} and "
            f"{settings['confirm_episodes']}."
        )
    if tensorboard:
        from rlmodule_core.train.run_log import check_tensorboard

        check_tensorboard()
    key, algo_cls = _algorithm(settings["algo"])
    # ImportError naming the extra before anything starts; threads before the first op
    # (TF and JAX fix their pools then), for single- and multi-agent runs alike.
    registry.get_backend(settings["framework"]).set_threads(settings.get("threads", 1))
    if "multi_agent" in settings:
        from rlmodule_core.train.multi_agent.run import build_algorithm

        algorithm = build_algorithm(settings, build_config(key, settings["config"]))
    else:
        algorithm = algo_cls(
            build_config(key, settings["config"]), settings["env"], framework=settings["framework"],
            seed=settings["seed"], total_env_steps=settings["steps"],
            num_env_runners=settings.get("num_env_runners", 0), env_config=settings.get("env_config") or None,
            threads=settings.get("threads", 1),
        )
    log = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        if resume is not None:
            algorithm.restore_from_path(out / "checkpoint")
        (out / RUN_FILE).write_text(json.dumps(settings, indent=2))
        from rlmodule_core.train.run_log import RunLog

        log = RunLog(out, tensorboard=tensorboard)
        threshold = settings.get("solve_return") or _solve_threshold(settings["env"])
        with _StopSignals(handle_signals) as stop:
            return _Run(algorithm, settings, out, log, threshold, progress, on_iteration, stop).run()
    finally:
        if log is not None:
            log.close()
        algorithm.close()  # remote runners are processes: stop them even when the loop fails


class _StopSignals:
    """While active, SIGINT/SIGTERM set ``.signal`` (the loop stops after the iteration);
    a second signal raises as usual. Handlers are only installed in the main thread."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signal.Signals(signum).name
        for sig, handler in self._previous.items():  # a second Ctrl-C interrupts at once
            signal.signal(sig, handler)

    def __enter__(self) -> _StopSignals:
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Run:
    """One pass of the training loop over an algorithm, writing to ``out`` as it goes."""

    def __init__(self, algorithm, settings, out: Path, log, threshold, progress, on_iteration, stop) -> None:
        self.algorithm, self.settings, self.out, self.log = algorithm, settings, out, log
        self.threshold, self.on_iteration, self.stop = threshold, on_iteration, stop
        summary = log.summary
        self.start = time.perf_counter() - summary.get("wall_time_s", 0.0)
        self.eval_time = summary.get("eval_time_s", 0.0)
        self.solve: dict[str, Any] | None = summary.get("solve")
        self.confirmations = int(summary.get("confirmations", 0))
        self.bar = Progress(settings["steps"], unit="steps", initial=algorithm.num_env_steps) if progress else None
        self.stopped_by_callback = False

    def _elapsed(self) -> float:
        return time.perf_counter() - self.start

    def _evaluate(self, episodes: int, seed: int) -> list[float]:
        t0 = time.perf_counter()
        returns = self.algorithm.evaluate(episodes, seed=seed)
        self.eval_time += time.perf_counter() - t0
        return returns

    def _train_return(self) -> float | None:
        rows = self.log.rows
        value = rows[-1].get("episode_return_mean") if rows else None
        return None if value is None or value != value else float(value)

    def _periodic_evaluation(self) -> None:
        algorithm, settings = self.algorithm, self.settings
        returns = self._evaluate(settings["eval_episodes"], EVAL_SEED + 1000 * len(self.log.evaluations))
        record: dict[str, Any] = {
            "env_steps": algorithm.num_env_steps, "wall_time_s": self._elapsed(),
            "eval_return_mean": float(np.mean(returns)), "eval_return_std": float(np.std(returns)),
            "eval_episodes": len(returns),
        }
        record.update(getattr(algorithm, "evaluation_metrics", {}))  # per module and agent (multi-agent)
        if self.threshold is not None and self.solve is None and record["eval_return_mean"] >= self.threshold:
            confirm = self._evaluate(settings["confirm_episodes"], CONFIRM_SEED + 1000 * self.confirmations)
            self.confirmations += 1
            record.update(confirm_return_mean=float(np.mean(confirm)), confirm_return_std=float(np.std(confirm)),
                          confirm_episodes=len(confirm), confirmed=bool(np.mean(confirm) >= self.threshold))
            if record["confirmed"]:
                # Kept apart from checkpoint/ so a run that trains on still has the confirmed policy.
                algorithm.module.save_to_path(self.out / SOLVED_MODULE)
                self.solve = {
                    "env_steps": record["env_steps"], "wall_time_s": record["wall_time_s"],
                    "eval_return_mean": record["eval_return_mean"],
                    "confirm_return_mean": record["confirm_return_mean"],
                    "confirm_return_std": record["confirm_return_std"], "confirm_episodes": len(confirm),
                    "train_return_mean": self._train_return(),
                }
        record["wall_time_s"] = self._elapsed()
        self.log.add_evaluation(record)
        algorithm.save_to_path(self.out / "checkpoint")
        self.log.write_json(self._summary("running"))

    def _summary(self, status: str) -> dict[str, Any]:
        algorithm, settings = self.algorithm, self.settings
        elapsed = self._elapsed()
        evaluations = self.log.evaluations
        return {
            "status": status, "solved_module": SOLVED_MODULE if self.solve is not None else None, "algo": settings["algo"], "env": settings["env"], "framework": settings["framework"],
            "env_steps": algorithm.num_env_steps, "wall_time_s": elapsed, "solved": self.solve is not None,
            "solve": self.solve, "solve_threshold": self.threshold, "confirmations": self.confirmations,
            "final_eval_return": evaluations[-1]["eval_return_mean"] if evaluations else None,
            "train_return_mean": self._train_return(),
            "eval_time_s": self.eval_time, "eval_share": self.eval_time / max(elapsed, 1e-9),
            "steps_per_s": algorithm.num_env_steps / max(elapsed - self.eval_time, 1e-9),
            "steps_per_s_with_eval": algorithm.num_env_steps / max(elapsed, 1e-9),
        }

    def run(self) -> RunResult:
        from rlmodule_core.train.plotting import plot_learning_curve

        algorithm, settings, total = self.algorithm, self.settings, self.settings["steps"]
        every = settings["eval_every"]
        next_eval = (algorithm.num_env_steps // every + 1) * every
        info: dict[str, Any] = {}
        self.log.write_json(self._summary("running"))
        while algorithm.num_env_steps < total and self.stop.signal is None:
            if settings["stop_at_solve"] and self.solve is not None:
                break
            metrics = algorithm.train_iteration()
            metrics["wall_time_s"] = self._elapsed()
            self.log.add_iteration(metrics)
            if algorithm.num_env_steps >= next_eval or algorithm.num_env_steps >= total:
                next_eval = (algorithm.num_env_steps // every + 1) * every
                self._periodic_evaluation()
            if self.on_iteration is not None and self.on_iteration(metrics):
                self.stopped_by_callback = True
                break
            if self.bar is not None:
                info = {"return": metrics["episode_return_mean"], **_module_returns(metrics)}
                if self.log.evaluations:
                    info["eval"] = self.log.evaluations[-1]["eval_return_mean"]
                self.bar.update(algorithm.num_env_steps, info)
        if self.bar is not None:
            self.bar.close(info)
        # Stopped at a confirmed solve: no training happened since, so this is the confirmed policy.
        algorithm.save_to_path(self.out / "checkpoint")
        status = "interrupted" if self.stop.signal is not None else "stopped" if self.stopped_by_callback else "finished"
        summary = self._summary(status)
        if self.stop.signal is not None:
            summary["interrupted_by"] = self.stop.signal
        self.log.write_json(summary)
        plot_learning_curve(
            self.log.rows, self.log.evaluations, self.out / "learning_curve.png",
            title=f"{settings['algo'].upper()} on {settings['env']} ({settings['framework']})",
            solved_at=self.threshold,
        )
        if "multi_agent" in settings:
            from rlmodule_core.train.multi_agent.run import plot_module_curves

            plot_module_curves(self.log.rows, self.log.evaluations, self.out / "learning_curve_modules.png",
                               title=f"{settings['algo'].upper()} on {settings['env']}: return per module")
        solve = self.solve or {}
        return RunResult(
            out=str(self.out.absolute()), env_steps=algorithm.num_env_steps, wall_time_s=summary["wall_time_s"],
            solved=self.solve is not None, solve_env_steps=solve.get("env_steps"),
            solve_time_s=solve.get("wall_time_s"), final_eval_return=summary["final_eval_return"],
            steps_per_s=summary["steps_per_s"], solve_confirm_return=solve.get("confirm_return_mean"),
            solve_train_return=solve.get("train_return_mean"), train_return=summary["train_return_mean"],
            eval_share=summary["eval_share"], interrupted=self.stop.signal,
        )


def _module_returns(metrics: dict[str, Any]) -> dict[str, Any]:
    """A multi-agent run's training return per module, for the progress bar."""
    suffix = "/episode_return_mean"
    return {k[: -len(suffix)]: v for k, v in metrics.items() if k.endswith(suffix) and not k.startswith("agent/")}


def evaluate_checkpoint(
    path: str | os.PathLike, env: str | None = None, *, episodes: int = 20, framework: str | None = None,
    seed: int = 10_000, trust_code: bool = False,
) -> tuple[list[float], Any]:
    """Plays ``episodes`` greedy episodes with a saved module; accepts a module checkpoint,
    a learner checkpoint or a run directory. Returns the returns and the module.
    ``trust_code`` as in ``RLModule.from_checkpoint``."""
    from rlmodule_core.checkpoint import METADATA_FILE, read_metadata
    from rlmodule_core.rl_module import RLModule
    from rlmodule_core.train.env_runner import EnvRunner, env_spec_with_config
    from rlmodule_core.train.multi_agent.run import (
        evaluate_multi_agent_checkpoint,
        is_multi_agent_checkpoint,
    )

    if is_multi_agent_checkpoint(path):  # the scores: each episode's lowest module return
        scores, _, multi = evaluate_multi_agent_checkpoint(
            path, env, episodes=episodes, framework=framework, seed=seed, trust_code=trust_code,
        )
        return scores, multi
    path = Path(path)
    env_config = None
    if (path / RUN_FILE).is_file():
        run = json.loads((path / RUN_FILE).read_text())
        if env is None or env == run["env"]:
            env_config = run.get("env_config")
        env = env or run["env"]
        path = path / "checkpoint"
    if (path / METADATA_FILE).is_file() and read_metadata(path, verify=False).get("kind") == "learner":
        path = path / "module"
    if env is None:
        raise ValueError("Pass --env: the checkpoint does not say which environment it was trained on.")
    module = RLModule.from_checkpoint(path, framework=framework, inference_only=True, trust_code=trust_code)
    runner = EnvRunner(env_spec_with_config(env, env_config), 1, seed=seed)
    if runner.observation_space != module.observation_space or runner.action_space != module.action_space:
        raise ValueError(
            f"The checkpoint's spaces ({module.observation_space}, {module.action_space}) do not match "
            f"{env!r} ({runner.observation_space}, {runner.action_space}). Pass the env it was trained on."
        )
    return runner.evaluate(module, episodes, seed=seed), module
