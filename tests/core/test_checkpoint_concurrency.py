"""Saves killed at random points, readers during re-saves, and concurrent writers.

A checkpoint path always restores to a complete checkpoint: the old one or the new one,
never an error, whether a save is killed with SIGKILL, a reader meets a re-save, or two
processes save to the same path. Leftovers of killed saves go with the next save.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core.checkpoint import atomic, read_metadata
from rlmodule_core.testing.modules import TinyPolicy

SUPPORT = Path(__file__).parents[1] / "support"

WRITER = textwrap.dedent("""
    import sys
    import gymnasium as gym, numpy as np
    import rlmodule_core as rlm
    from rlmodule_core.checkpoint import atomic
    from rlmodule_core.testing.modules import TinyPolicy

    path, first, count, exchange = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    if not exchange:
        atomic._RENAMEAT2 = None  # the portable fallback: two renames, readers retry
    module = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=gym.spaces.Box(-1, 1, (4,)),
                              action_space=gym.spaces.Discrete(3), framework="numpy",
                              model_config={"hidden": 64}).build()
    keys = list(module.get_state())
    print("ready", flush=True)
    version = first
    while count < 0 or version < first + count:
        module.set_state({k: np.full_like(v, version) for k, v in module.get_state().items()})
        module.save_to_path(path)
        version += 1
    print("done", flush=True)
""")


class Abort(Exception):
    """Ends an atomic_directory block without saving."""


def make():
    return rlm.RLModuleSpec(
        module_class=TinyPolicy, observation_space=gym.spaces.Box(-1, 1, (4,)),
        action_space=gym.spaces.Discrete(3), framework="numpy", model_config={"hidden": 64},
    ).build()


def writer(path: Path, first: int, count: int, *, exchange: bool = True) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), *sys.path])}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(first), str(count), "1" if exchange else "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    return process


def version_of(module) -> int:
    """The one value every weight holds (a checkpoint is never a mix of two saves)."""
    values = {float(v) for array in module.get_state().values() for v in np.unique(array)}
    assert len(values) == 1, f"a mix of saves: {sorted(values)[:5]}"
    return int(values.pop())


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


def save_version(path: Path, version: int) -> None:
    module = make()
    module.set_state({k: np.full_like(v, version) for k, v in module.get_state().items()})
    module.save_to_path(path)


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_kill_9_during_saves_always_leaves_old_or_new(tmp_path, exchange):
    path = tmp_path / "ckpt"
    save_version(path, 0)
    rng = random.Random(14)
    seen = set()
    for round_ in range(3):
        process = writer(path, 1000 * (round_ + 1), -1, exchange=exchange)
        time.sleep(rng.uniform(0.05, 0.4))
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Without the exchange a kill between the two renames can leave the path empty
        # for a moment; the next save puts the old checkpoint back before anything else.
        if not path.exists():
            assert not exchange
            with pytest.raises(Abort), atomic.atomic_directory(path):
                raise Abort
        version = version_of(rlm.RLModule.from_checkpoint(path))
        assert version == 0 or 1000 * (round_ + 1) <= version < 1000 * (round_ + 2)
        seen.add(version)
        save_version(path, 7)  # the next save cleans every leftover of the killed one
        assert leftovers(path) == []
        assert version_of(rlm.RLModule.from_checkpoint(path)) == 7
    assert seen  # restores happened after every kill


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_reader_during_resaves_gets_old_or_new_never_an_error(tmp_path, exchange):
    path = tmp_path / "ckpt"
    save_version(path, 1)
    process = writer(path, 2, 60, exchange=exchange)
    target = make()
    versions = []
    try:
        while process.poll() is None:
            versions.append(version_of(rlm.RLModule.from_checkpoint(path)))
            target.restore_from_path(path)
            versions.append(version_of(target))
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0 or process.returncode == -signal.SIGKILL
    assert len(versions) >= 2
    assert all(1 <= v <= 61 for v in versions)
    assert versions == sorted(versions)  # never an older checkpoint after a newer one


def test_two_concurrent_writers_end_with_one_complete_checkpoint(tmp_path):
    path = tmp_path / "ckpt"
    first, second = writer(path, 100, 60), writer(path, 500, 60)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    for process, (out, err) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, err
        assert out.strip() == "done" and "Error" not in err
    version = version_of(rlm.RLModule.from_checkpoint(path))
    assert 100 <= version < 160 or 500 <= version < 560
    assert read_metadata(path)["kind"] == "rl_module"
    assert leftovers(path) == []
    assert sorted(os.listdir(path)) == ["metadata.json", "module_state.safetensors"]


def test_crash_between_the_two_renames_does_not_hide_the_old_checkpoint(tmp_path):
    path = tmp_path / "ckpt"
    save_version(path, 3)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    aside = tmp_path / f".ckpt.old-{int(dead.stdout)}-abcd"
    os.rename(path, aside)  # what a save killed right after its first rename leaves
    (tmp_path / f".ckpt.tmp-{int(dead.stdout)}-efgh").mkdir()
    module = make()
    with pytest.raises(Abort), atomic.atomic_directory(path):
        raise Abort  # even a save that then fails has put the old checkpoint back
    assert version_of(rlm.RLModule.from_checkpoint(path)) == 3
    assert leftovers(path) == []
    module.save_to_path(path)
    assert sorted(os.listdir(path)) == ["metadata.json", "module_state.safetensors"]
