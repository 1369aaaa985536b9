"""The main job's multi-agent side: settings, building the algorithm, plots and evaluation.

``rlmodule_core.train.loop`` calls these when the env is multi-agent; the run directory
is the single-agent one plus ``learning_curve_modules.png`` (one curve per module), and
``run.json`` records the env config and the mapping so that ``--resume`` and
``rlmodule eval`` rebuild the same agents-to-modules assignment.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlmodule_core.envs.multi_agent import is_multi_agent_env, make_multi_agent_env
from rlmodule_core.train.multi_agent.base import MultiAgentAlgorithm, summarize_evaluation
from rlmodule_core.train.multi_agent.env_runner import MultiAgentEnvRunner
from rlmodule_core.train.multi_agent.mapping import POLICY_MODES, build_mapping, config_values

__all__ = [
    "build_algorithm", "evaluate_multi_agent_checkpoint", "is_multi_agent_checkpoint", "plot_module_curves",
    "split_config",
]

MULTI_AGENT_TABLE = "multi_agent"


def split_config(
    config: str | os.PathLike | Mapping[str, Any] | None, env: Any, policies: str | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(algorithm config values, multi-agent settings or None)`` from a config and ``--policies``.

    The config file's ``[multi_agent]`` table (keys of ``MultiAgentConfig``) is taken
    out; ``policies`` overrides its ``policies`` key.

    Raises:
        ValueError: multi-agent settings for an env that is not multi-agent, or an unknown
            ``policies`` mode.
    """
    if config is None:
        values: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        values = dict(config)
    else:
        values = _read_config_file(Path(config))
    table = values.pop(MULTI_AGENT_TABLE, None)
    if policies is not None and policies not in POLICY_MODES:
        raise ValueError(f"Unknown --policies {policies!r}; expected one of {', '.join(POLICY_MODES)}.")
    if not is_multi_agent_env(env):
        if table is not None or policies is not None:
            raise ValueError(
                f"{env!r} is not a multi-agent env, so --policies and [multi_agent] do not apply. Use a "
                "multi-agent env (MultiAgentCartPole-v1, pettingzoo:<module>) or drop those settings."
            )
        return values, None
    settings = dict(table or {})
    if policies is not None:
        settings["policies"] = policies
    config_values(settings)  # unknown keys fail here, before anything starts
    return values, settings


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValueError(f"Config file {str(path)!r} does not exist.")
    if path.suffix == ".toml":
        import tomllib

        return tomllib.loads(path.read_text())
    if path.suffix == ".json":
        return json.loads(path.read_text())
    raise ValueError(f"Expected a .toml or .json config file; received {str(path)!r}.")


def build_algorithm(settings: Mapping[str, Any], config: Any) -> MultiAgentAlgorithm:
    """The multi-agent algorithm a run's settings describe (mapping checked against the env).

    Raises:
        ValueError: the algorithm has no multi-agent form (the message lists those that do).
    """
    from rlmodule_core.train.multi_agent import MULTI_AGENT_ALGORITHMS

    algo_cls = MULTI_AGENT_ALGORITHMS.get(settings["algo"])
    if algo_cls is None:
        raise ValueError(
            f"{settings['algo'].upper()} does not train multi-agent envs yet; {settings['env']!r} is one. "
            f"Use --algo {' or '.join(sorted(MULTI_AGENT_ALGORITHMS))}."
        )
    return algo_cls(
        config, settings["env"], framework=settings["framework"], seed=settings["seed"],
        total_env_steps=settings["steps"], num_env_runners=settings.get("num_env_runners", 0),
        env_config=settings.get("env_config") or {}, multi_agent=settings["multi_agent"],
    )


def plot_module_curves(rows: list[dict[str, Any]], evaluations: list[dict[str, Any]], path: Path, *, title: str) -> bool:
    """One training and one evaluation curve per module against env steps (matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    suffix = "/episode_return_mean"
    modules = sorted({k[: -len(suffix)] for r in rows for k in r if k.endswith(suffix) and not k.startswith("agent/")})
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for n, module_id in enumerate(modules):
        color = f"C{n}"
        points = [(r["env_steps"], r[module_id + suffix]) for r in rows
                  if not math.isnan(r.get(module_id + suffix, math.nan))]
        if points:
            ax.plot(*zip(*points), color=color, lw=1.5, label=f"{module_id}: training return")
        evals = [(e["env_steps"], e[f"{module_id}/eval_return_mean"]) for e in evaluations
                 if f"{module_id}/eval_return_mean" in e]
        if evals:
            ax.plot(*zip(*evals), "o--", color=color, ms=4, lw=1, label=f"{module_id}: evaluation (greedy)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return (per agent)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def is_multi_agent_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` (run directory, learner or module checkpoint) holds a MultiRLModule."""
    from rlmodule_core.checkpoint import METADATA_FILE, read_metadata

    module_dir = _module_dir(Path(path))
    return (module_dir / METADATA_FILE).is_file() and read_metadata(module_dir, verify=False).get("kind") == "multi_rl_module"


def _module_dir(path: Path) -> Path:
    from rlmodule_core.checkpoint import METADATA_FILE, read_metadata

    if (path / "run.json").is_file():
        path = path / "checkpoint"
    if (path / METADATA_FILE).is_file() and read_metadata(path, verify=False).get("kind") == "learner":
        path = path / "module"
    return path


def evaluate_multi_agent_checkpoint(
    path: str | os.PathLike, env: Any = None, *, episodes: int = 20, framework: str | None = None,
    env_config: Mapping[str, Any] | None = None, seed: int = 10_000, trust_code: bool = False,
) -> tuple[list[float], dict[str, float], Any]:
    """Plays greedy episodes with every agent on its module; returns scores, per-module/agent means, module.

    The mapping comes from the run (``run.json`` or the learner checkpoint); for a bare
    module checkpoint an agent plays the module named like it, or the only module.

    Raises:
        ValueError: no env is known, an agent has no module, or a module's spaces do not
            match its agents' (the message names them).
    """
    from rlmodule_core.checkpoint import read_metadata
    from rlmodule_core.rl_module import RLModule

    path = Path(path)
    run_file = path / "run.json"
    run = json.loads(run_file.read_text()) if run_file.is_file() else {}
    module_dir = _module_dir(path)
    learner_dir = module_dir.parent
    extra = read_metadata(learner_dir, verify=False).get("extra", {}) if (learner_dir / "metadata.json").is_file() else {}
    env = env or run.get("env")
    if env is None:
        raise ValueError("Pass --env: the checkpoint does not say which environment it was trained on.")
    env_config = env_config if env_config is not None else run.get("env_config") or extra.get("env_config") or {}
    module = RLModule.from_checkpoint(module_dir, framework=framework, inference_only=True, trust_code=trust_code)
    stored = extra.get("multi_agent") or {}
    probe = make_multi_agent_env(env, env_config)
    try:
        if stored.get("agent_modules"):
            mapping_config = {"mapping": stored["agent_modules"]}
        else:
            ids = list(module.keys())
            mapping_config = {"mapping": {a: (a if a in ids else ids[0]) for a in probe.possible_agents}}
            if len(ids) > 1 and any(a not in ids for a in probe.possible_agents):
                raise ValueError(
                    f"Cannot tell which of the modules {ids} plays agents {probe.possible_agents}; evaluate the "
                    "run directory or learner checkpoint, which record the mapping."
                )
        mapping = build_mapping(probe, mapping_config)
    finally:
        probe.close()
    for module_id, (obs_space, act_space) in mapping.spaces.items():
        if module_id not in module:
            raise ValueError(f"The mapping names module {module_id!r}, which the checkpoint lacks; it has {list(module.keys())}.")
        sub = module[module_id]
        if (sub.observation_space, sub.action_space) != (obs_space, act_space):
            raise ValueError(
                f"Module {module_id!r} has spaces ({sub.observation_space}, {sub.action_space}) but its agents in "
                f"{env!r} have ({obs_space}, {act_space}). Pass the env (and --env-config) it was trained on."
            )
    runner = MultiAgentEnvRunner(env, 1, mapping=mapping, env_config=env_config, seed=seed)
    try:
        results = runner.evaluate(module, episodes, seed=seed)
    finally:
        runner.close()
    scores, metrics = summarize_evaluation(results, mapping.agent_modules)
    return scores, metrics, module
