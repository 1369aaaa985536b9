"""The main job: train an algorithm on an env, evaluate, and write the run directory.

A run directory holds ``run.json`` (settings, for ``--resume``), ``metrics.csv`` and
``metrics.json``, ``learning_curve.png`` and ``checkpoint/`` (the learner state; the
module checkpoint is ``checkpoint/module``, which ``rlmodule eval`` and
``RLModule.from_checkpoint`` read).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlmodule_core.backend import registry
from rlmodule_core.train.progress import Progress

RUN_FILE = "run.json"
DEFAULT_STEPS = {"ppo": 500_000, "dqn": 100_000}
DEFAULT_EVAL_EVERY = {"ppo": 10_240, "dqn": 10_000}


@dataclasses.dataclass
class RunResult:
    """What a run produced."""

    out: str
    env_steps: int
    wall_time_s: float
    solved: bool
    solve_env_steps: int | None
    solve_time_s: float | None
    final_eval_return: float | None
    steps_per_s: float


def _algorithm(name: str):
    from rlmodule_core.train.algorithms import ALGORITHMS

    key = name.lower()
    if key not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {name!r}. Expected one of: {', '.join(sorted(ALGORITHMS))}.")
    return key, ALGORITHMS[key]


def build_config(algo: str, config: str | os.PathLike | dict[str, Any] | None) -> Any:
    """The algorithm's config from defaults, a dict, or a .toml/.json file (unknown keys raise)."""
    from rlmodule_core.train.learner import config_from_json

    _, cls = _algorithm(algo)
    return config_from_json(cls.config_class, config or {})


def _solve_threshold(env: str) -> float | None:
    import gymnasium as gym

    from rlmodule_core.envs.multi_agent import is_multi_agent_env, multi_agent_reward_threshold

    if is_multi_agent_env(env):
        return multi_agent_reward_threshold(env)
    try:
        return gym.spec(env).reward_threshold
    except gym.error.Error:
        return None


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
    env_config: dict[str, Any] | None = None,
    policies: str | None = None,
) -> RunResult:
    """Trains until ``steps`` env steps (or until the greedy evaluation reaches
    ``solve_return``, by default the env's reward threshold, when ``stop_at_solve``), then
    writes the run directory.

    Everything a user can get wrong (algorithm, framework, env id, config keys, action
    space) is checked before the first step.

    ``num_env_runners`` >= 1 samples on that many Ray actors (the ``ray`` extra); 0 (the
    default; on ``resume`` the run's own setting) samples in this process without Ray.

    ``env_config`` holds the env constructor's keyword arguments. A multi-agent env
    (``MultiAgentCartPole-v1``, ``pettingzoo:<module>``) trains a MultiRLModule with
    ``policies`` ("independent" or "shared") or the config file's ``[multi_agent]``
    table (see ``rlmodule_core.train.multi_agent``).

    Example:
        >>> result = train("ppo", "CartPole-v1", framework="jax", seed=1, out="runs/ppo-jax")
        >>> result.solved, result.solve_env_steps
    """
    settings: dict[str, Any]
    if resume is not None:
        settings = json.loads((Path(resume) / RUN_FILE).read_text())
        if steps is not None:
            settings["steps"] = steps
        settings["stop_at_solve"] = stop_at_solve
        if num_env_runners is not None:
            settings["num_env_runners"] = num_env_runners
        out = Path(resume)
    else:
        from rlmodule_core.train.multi_agent.run import split_config

        key, _ = _algorithm(algo)
        config, multi_agent = split_config(config, env, policies)
        if env_config and multi_agent is None:
            raise ValueError(
                f"env_config (--env-config) is passed to multi-agent envs only here; {env!r} is a gymnasium "
                "id. Drop --env-config, or use a multi-agent env."
            )
        settings = {
            "algo": key, "env": env, "framework": registry.resolve_framework(framework), "seed": seed,
            "steps": steps or DEFAULT_STEPS[key], "eval_every": eval_every or DEFAULT_EVAL_EVERY[key],
            "eval_episodes": eval_episodes, "stop_at_solve": stop_at_solve, "solve_return": solve_return,
            "num_env_runners": num_env_runners or 0, "config": dataclasses.asdict(build_config(key, config)),
            "env_config": dict(env_config or {}),
        }
        if multi_agent is not None:
            settings["multi_agent"] = multi_agent
        out = Path(out) if out is not None else Path("runs") / f"{key}-{env}-{settings['framework']}-{int(time.time())}"
    key, algo_cls = _algorithm(settings["algo"])
    registry.get_backend(settings["framework"])  # ImportError naming the extra, before anything starts
    if "multi_agent" in settings:
        from rlmodule_core.train.multi_agent import MULTI_AGENT_ALGORITHMS
        from rlmodule_core.train.multi_agent.run import build_algorithm

        algorithm = build_algorithm(settings, MULTI_AGENT_ALGORITHMS[key], build_config(key, settings["config"]))
    else:
        algorithm = algo_cls(
            build_config(key, settings["config"]), settings["env"], framework=settings["framework"],
            seed=settings["seed"], total_env_steps=settings["steps"],
            num_env_runners=settings.get("num_env_runners", 0),
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        history = _History.load(out) if resume is not None else _History()
        if resume is not None:
            algorithm.restore_from_path(out / "checkpoint")
        (out / RUN_FILE).write_text(json.dumps(settings, indent=2))
        threshold = settings.get("solve_return") or _solve_threshold(settings["env"])
        threshold = threshold if settings["stop_at_solve"] else None
        return _loop(algorithm, settings, out, history, threshold, progress)
    finally:
        algorithm.close()  # remote runners are processes: stop them even when the loop fails


class _History:
    """Metrics rows and evaluations, kept in memory and written as CSV/JSON."""

    def __init__(self, rows=None, evaluations=None, elapsed: float = 0.0, solve=None) -> None:
        self.rows: list[dict[str, Any]] = rows or []
        self.evaluations: list[dict[str, Any]] = evaluations or []
        self.elapsed = elapsed
        self.solve: dict[str, Any] | None = solve

    @classmethod
    def load(cls, out: Path) -> _History:
        path = out / "metrics.json"
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text())
        return cls(data["iterations"], data["evaluations"], data["summary"]["wall_time_s"], data["summary"].get("solve"))

    def write(self, out: Path, summary: dict[str, Any]) -> None:
        payload = {"summary": summary, "iterations": self.rows, "evaluations": self.evaluations}
        (out / "metrics.json").write_text(json.dumps(payload, indent=2, default=float))
        if self.rows:
            fields = sorted({k for row in self.rows for k in row})
            with open(out / "metrics.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(self.rows)


def _loop(algorithm, settings, out: Path, history: _History, threshold: float | None, progress: bool) -> RunResult:
    from rlmodule_core.train.plotting import plot_learning_curve

    total, start = settings["steps"], time.perf_counter() - history.elapsed
    bar = Progress(total, unit="steps", initial=algorithm.num_env_steps) if progress else None
    info: dict[str, Any] = {}
    next_eval = (algorithm.num_env_steps // settings["eval_every"] + 1) * settings["eval_every"]
    eval_time = 0.0
    while algorithm.num_env_steps < total and not (threshold is not None and history.solve is not None):
        metrics = algorithm.train_iteration()
        metrics["wall_time_s"] = time.perf_counter() - start
        history.rows.append(metrics)
        if algorithm.num_env_steps >= next_eval or algorithm.num_env_steps >= total:
            next_eval += settings["eval_every"]
            t0 = time.perf_counter()
            returns = algorithm.evaluate(settings["eval_episodes"])
            eval_time += time.perf_counter() - t0
            record = {"env_steps": algorithm.num_env_steps, "wall_time_s": time.perf_counter() - start,
                      "eval_return_mean": float(np.mean(returns)), "eval_return_std": float(np.std(returns))}
            record.update(getattr(algorithm, "evaluation_metrics", {}))  # per module/agent (multi-agent)
            history.evaluations.append(record)
            if threshold is not None and history.solve is None and record["eval_return_mean"] >= threshold:
                history.solve = {"env_steps": record["env_steps"], "wall_time_s": record["wall_time_s"]}
            algorithm.save_to_path(out / "checkpoint")
        if bar is not None:
            info = {"return": metrics["episode_return_mean"]}
            info.update(_module_returns(metrics))
            if history.evaluations:
                info["eval"] = history.evaluations[-1]["eval_return_mean"]
            bar.update(algorithm.num_env_steps, info)
    if bar is not None:
        bar.close(info)
    algorithm.save_to_path(out / "checkpoint")
    elapsed = time.perf_counter() - start
    final = history.evaluations[-1]["eval_return_mean"] if history.evaluations else None
    train_time = max(elapsed - eval_time, 1e-9)
    summary = {
        "algo": settings["algo"], "env": settings["env"], "framework": settings["framework"],
        "env_steps": algorithm.num_env_steps, "wall_time_s": elapsed, "solve": history.solve,
        "solve_threshold": threshold, "final_eval_return": final,
        "steps_per_s": algorithm.num_env_steps / train_time,
    }
    history.elapsed = elapsed
    history.write(out, summary)
    plot_learning_curve(
        history.rows, history.evaluations, out / "learning_curve.png",
        title=f"{settings['algo'].upper()} on {settings['env']} ({settings['framework']})", solved_at=threshold,
    )
    if "multi_agent" in settings:
        from rlmodule_core.train.multi_agent.run import plot_module_curves

        plot_module_curves(history.rows, history.evaluations, out / "learning_curve_modules.png",
                           title=f"{settings['algo'].upper()} on {settings['env']}: return per module")
    solve = history.solve or {}
    return RunResult(
        out=str(out.absolute()), env_steps=algorithm.num_env_steps, wall_time_s=elapsed,
        solved=history.solve is not None, solve_env_steps=solve.get("env_steps"),
        solve_time_s=solve.get("wall_time_s"), final_eval_return=final, steps_per_s=summary["steps_per_s"],
    )


def _module_returns(metrics: dict[str, Any]) -> dict[str, Any]:
    """A multi-agent run's training return per module, for the progress bar."""
    suffix = "/episode_return_mean"
    return {k[: -len(suffix)]: v for k, v in metrics.items() if k.endswith(suffix) and not k.startswith("agent/")}


def evaluate_checkpoint(
    path: str | os.PathLike, env: str | None = None, *, episodes: int = 20, framework: str | None = None,
    seed: int = 10_000,
) -> tuple[list[float], Any]:
    """Plays ``episodes`` greedy episodes with a saved module; accepts a module checkpoint,
    a learner checkpoint or a run directory. Returns the returns and the module."""
    from rlmodule_core.checkpoint import METADATA_FILE, read_metadata
    from rlmodule_core.rl_module import RLModule
    from rlmodule_core.train.env_runner import EnvRunner

    from rlmodule_core.train.multi_agent.run import evaluate_multi_agent_checkpoint, is_multi_agent_checkpoint

    if is_multi_agent_checkpoint(path):  # scores: each episode's lowest module return
        scores, _, multi = evaluate_multi_agent_checkpoint(path, env, episodes=episodes, framework=framework, seed=seed)
        return scores, multi
    path = Path(path)
    if (path / RUN_FILE).is_file():
        env = env or json.loads((path / RUN_FILE).read_text())["env"]
        path = path / "checkpoint"
    if (path / METADATA_FILE).is_file() and read_metadata(path, verify=False).get("kind") == "learner":
        path = path / "module"
    if env is None:
        raise ValueError("Pass --env: the checkpoint does not say which environment it was trained on.")
    module = RLModule.from_checkpoint(path, framework=framework, inference_only=True)
    runner = EnvRunner(env, 1, seed=seed)
    if runner.observation_space != module.observation_space or runner.action_space != module.action_space:
        raise ValueError(
            f"The checkpoint's spaces ({module.observation_space}, {module.action_space}) do not match "
            f"{env!r} ({runner.observation_space}, {runner.action_space}). Pass the env it was trained on."
        )
    return runner.evaluate(module, episodes, seed=seed), module
