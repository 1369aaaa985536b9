"""``Backend.set_threads``: what each framework reports afterwards, in a fresh process.

Thread pools are process-wide and TF/JAX fix theirs at their first op, so every check
runs in its own interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

# Each script prints one JSON line: what the framework reports before and after its first op.
_PROBES = {
    "torch": """
        import torch
        backend.set_threads(1, inter_op=2)
        first = [torch.get_num_threads(), torch.get_num_interop_threads()]
        backend.set_threads(2, inter_op=2)   # intra-op may change at any time
        print(json.dumps({"first": first, "later": [torch.get_num_threads(), torch.get_num_interop_threads()]}))
    """,
    "tf": """
        tf = sys.modules["tensorflow"]
        t = tf.config.threading
        backend.set_threads(1, inter_op=2)
        first = [t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads()]
        float(tf.reduce_sum(tf.ones((2, 2))))          # starts the runtime: pools are fixed now
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            backend.set_threads(3)
        print(json.dumps({"first": first, "later": [t.get_intra_op_parallelism_threads(),
                          t.get_inter_op_parallelism_threads()], "warned": [str(w.message) for w in caught]}))
    """,
    "jax": """
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=true"
        backend.set_threads(1)
        first = os.environ["XLA_FLAGS"]
        import jax.numpy as jnp
        value = float(jnp.ones((2, 2)).sum())          # starts the backend: flags are read now
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            backend.set_threads(2)
        print(json.dumps({"first": first, "value": value, "later": os.environ["XLA_FLAGS"],
                          "warned": [str(w.message) for w in caught]}))
    """,
    "numpy": """
        backend.set_threads(1, inter_op=4)
        print(json.dumps({"first": "ok"}))
    """,
}


def _probe(framework: str) -> dict:
    script = "import json, os, sys, warnings\nimport rlmodule_core as rlm\n"
    script += f"backend = rlm.get_backend({framework!r})\n" + textwrap.dedent(_PROBES[framework])
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "OMP_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_set_threads_reaches_the_framework(framework):
    got = _probe(framework)
    if framework == "torch":
        assert got["first"] == [1, 2]
        assert got["later"] == [2, 2]
    elif framework == "tf":
        assert got["first"] == [1, 2]
        assert got["later"] == [1, 2], "a running TF runtime must keep its pools"
        assert len(got["warned"]) == 1 and "set_threads before the first TensorFlow op" in got["warned"][0]
    elif framework == "jax":
        assert got["first"] == "--xla_cpu_multi_thread_eigen=false", "the user's value is replaced, not doubled"
        assert got["value"] == 4.0
        assert got["later"] == got["first"], "XLA_FLAGS must not change once the backend runs"
        assert len(got["warned"]) == 1 and "already running" in got["warned"][0]
    else:
        assert got == {"first": "ok"}


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_threads_rejects_bad_counts(backend, bad):
    with pytest.raises(ValueError, match=r"Expected threads to be an int >= 1; received"):
        backend.set_threads(bad)
    with pytest.raises(ValueError, match=r"Expected inter_op to be an int >= 1; received"):
        backend.set_threads(1, inter_op=bad)


def test_cli_train_rejects_zero_threads(tmp_path, capsys):
    from rlmodule_core.cli.main import main

    code = main(["train", "--framework", "numpy", "--threads", "0", "--steps", "64", "--out", str(tmp_path / "run")])
    assert code == 2
    assert "Expected threads to be an int >= 1; received 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
