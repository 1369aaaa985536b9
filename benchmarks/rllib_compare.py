"""Side by side with Ray RLlib: our torch PPO module against RLlib's, in one process.

Both libraries build their default PPO torch module from a spec with the same model
config (``fcnet_hiddens``, tanh, a shared encoder) and are timed interleaved:

- forward: ``forward_inference``, ``forward_exploration``, ``forward_train`` of the
  [64, 64] module on CartPole spaces at batch 1 and 256 (tensor observations).
- state: ``get_state(inference_only=True)`` of the ~10M-parameter module
  (``fcnet_hiddens=[2048, 2048, 2048]``, ``Box(1024,)``) and ``set_state`` of it into an
  inference-only module.
- checkpoints: ``save_to_path``, ``restore_from_path`` and ``RLModule.from_checkpoint``
  of that module.

Ratio = ours / RLlib (times): below 1 we are ahead. Target: ahead on every figure.
Needs ``ray[rllib]`` (``nox -s bench-rllib`` makes a venv with it); without it every row
says so.

Usage:
    python benchmarks/rllib_compare.py [--rounds 15] [--calls 200]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from _common import (
    LARGE_HIDDEN,
    LARGE_OBS,
    SMALL_HIDDEN,
    SMALL_OBS,
    Row,
    Target,
    interleaved,
    large_ppo,
    observations,
    skipped,
    small_ppo,
)

TARGET = Target("ratio_max", 1.0)


def rllib_ppo(hidden: list[int], obs_dim: int, *, inference_only: bool = False) -> Any:
    """RLlib's DefaultPPOTorchRLModule built from an RLModuleSpec, shared encoder, tanh."""
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    return RLModuleSpec(
        module_class=DefaultPPOTorchRLModule,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
        action_space=gym.spaces.Discrete(2),
        inference_only=inference_only,
        model_config=DefaultModelConfig(fcnet_hiddens=list(hidden), fcnet_activation="tanh", vf_share_layers=True),
    ).build()


def _row(name: str, timing, unit_scale: float, unit: str, batch: int | None = None) -> Row:
    return Row(
        group="rllib", backend="torch", name=name, batch=batch,
        ours=timing.median("ours") * unit_scale, reference=timing.median("rllib") * unit_scale,
        unit=unit, reference_name="RLlib DefaultPPOTorchRLModule", ratio=timing.ratio("ours", "rllib"),
    ).judge(TARGET)


def forward_rows(rounds: int, calls: int) -> list[Row]:
    import torch

    ours, theirs = small_ppo("torch"), rllib_ppo(SMALL_HIDDEN, SMALL_OBS)
    rows = []
    for batch_size in (1, 256):
        batch = {"obs": torch.from_numpy(observations(batch_size))}
        n = calls if batch_size == 1 else max(calls // 4, 5)
        for phase in ("forward_inference", "forward_exploration", "forward_train"):
            mine, rllib = getattr(ours, phase), getattr(theirs, phase)
            timing = interleaved({"ours": partial(mine, batch), "rllib": partial(rllib, batch)},
                                 rounds=rounds, calls=n, warmup=max(n // 4, 5))
            rows.append(_row(phase, timing, 1e6, "us", batch_size))
    return rows


def state_rows(rounds: int) -> list[Row]:
    learners = {"ours": large_ppo("torch"), "rllib": rllib_ppo(LARGE_HIDDEN, LARGE_OBS)}
    actors = {"ours": large_ppo("torch", inference_only=True),
              "rllib": rllib_ppo(LARGE_HIDDEN, LARGE_OBS, inference_only=True)}
    states = {k: m.get_state(inference_only=True) for k, m in learners.items()}
    previous = learners["ours"].get_state(inference_only=True)
    get = interleaved({
        **{k: partial(m.get_state, inference_only=True) for k, m in learners.items()},
        "ours, out=": partial(learners["ours"].get_state, inference_only=True, out=previous),
    }, rounds=rounds, warmup=2)
    put = interleaved({k: partial(m.set_state, states[k]) for k, m in actors.items()}, rounds=rounds, warmup=2)
    reuse = Row(
        group="rllib", backend="torch", name="get_state(inference_only=True, out=previous), 10M params",
        ours=get.median("ours, out=") * 1e3, reference=get.median("rllib") * 1e3, unit="ms",
        reference_name="RLlib get_state (fresh arrays; it has no out=)",
        ratio=get.ratio("ours, out=", "rllib"), note="context: our weight-sync path with reused arrays",
    )
    return [_row("get_state(inference_only=True), 10M params", get, 1e3, "ms"), reuse,
            _row("set_state (inference-only module), 10M params", put, 1e3, "ms")]


def checkpoint_rows(rounds: int) -> list[Row]:
    from ray.rllib.core.rl_module.rl_module import RLModule as RLlibModule

    from rlmodule_core import RLModule

    modules = {"ours": large_ppo("torch"), "rllib": rllib_ppo(LARGE_HIDDEN, LARGE_OBS)}
    root = Path(tempfile.mkdtemp(prefix="rlmodule-rllib-"))
    paths = {k: root / k for k in modules}
    try:
        for key, module in modules.items():
            module.save_to_path(paths[key])
        loaders = {"ours": RLModule.from_checkpoint, "rllib": RLlibModule.from_checkpoint}
        figures = {
            "save_to_path, 10M params": {k: (lambda m=m, p=paths[k]: m.save_to_path(p)) for k, m in modules.items()},
            "restore_from_path, 10M params": {k: (lambda m=m, p=paths[k]: m.restore_from_path(p))
                                              for k, m in modules.items()},
            "from_checkpoint, 10M params": {k: (lambda f=loaders[k], p=paths[k]: f(p)) for k in modules},
        }
        return [_row(name, interleaved(fns, rounds=rounds, warmup=1), 1e3, "ms") for name, fns in figures.items()]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(rounds: int, calls: int) -> list[Row]:
    """All RLlib rows (the runner's entry point); one row saying why when ray is missing."""
    try:
        import ray.rllib  # noqa: F401
    except ImportError as err:
        return [skipped("rllib", "torch", "RLlib side by side",
                        f'ray[rllib] is not installed ({err}); run `nox -s bench-rllib`')]
    # Checkpoints and state sync take milliseconds: fewer rounds than the forward calls.
    return forward_rows(rounds, calls) + state_rows(rounds) + checkpoint_rows(max(rounds // 2, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    for row in run(args.rounds, args.calls):
        if row.ratio is None:
            print(row.note)
            continue
        batch = "" if row.batch is None else f" batch {row.batch}"
        print(f"{row.name}{batch}: ours {row.ours:.2f} {row.unit}, RLlib {row.reference:.2f} {row.unit}, "
              f"ratio {row.ratio:.3f} ({'context' if row.target is None else 'ahead' if row.met else 'BEHIND'})")


if __name__ == "__main__":
    main()
