"""Checkpoints written on torch, TF and JAX export to ONNX graphs that match the NumPy backend.

Run by the `portability` nox session (all frameworks and onnx installed). The export
itself runs with no framework: tests/onnx checks that in a process that cannot import one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
from rlm_onnx_cases import (
    CASES,
    build,
    export_and_compare,
    numpy_reference,
    reference_batch,
    run_onnx,
)

import rlmodule_core as rlm
from rlmodule_core import Columns
from rlmodule_core.testing import selected_backends

TOL = 1e-5
FRAMEWORKS = [f for f in selected_backends() if f in ("torch", "tf", "jax")]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkpoint_from_framework_exports_exactly(tmp_path, framework, case):
    checkpoint = build(case, framework).save_to_path(tmp_path / "ckpt")
    assert export_and_compare(checkpoint, tmp_path / "m.onnx", with_actions=True) <= TOL


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_export_of_a_live_framework_module(tmp_path, framework):
    module = build("ppo-lstm-prev-action-reward", framework)
    path = rlm.export_onnx(module, tmp_path / "live.onnx", with_actions=True)
    batch = reference_batch(module, 5)
    module.save_to_path(tmp_path / "ckpt")
    want = numpy_reference(tmp_path / "ckpt", batch, with_actions=True)
    got = run_onnx(path, batch)
    assert sorted(got) == sorted(want)
    assert max(float(np.max(np.abs(want[k] - got[k]))) for k in want) <= TOL


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_learner_checkpoint_and_run_directory_export_their_module(tmp_path, framework):
    from rlmodule_core.train.learner import Learner

    module = build("ppo-mlp-box", framework)
    Learner(module).save_to_path(tmp_path / "run" / "checkpoint")
    batch = reference_batch(module, 4)
    want = run_onnx(rlm.export_onnx(tmp_path / "run" / "checkpoint" / "module", tmp_path / "m.onnx"), batch)
    for source in (tmp_path / "run" / "checkpoint", tmp_path / "run"):
        got = run_onnx(rlm.export_onnx(source, tmp_path / "x.onnx"), batch)
        np.testing.assert_array_equal(got["action_dist_inputs"], want["action_dist_inputs"])


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="the session does not cover torch")
def test_torch_checkpoint_exports_where_no_framework_can_be_imported(tmp_path):
    checkpoint = build("ppo-cnn", "torch").save_to_path(tmp_path / "ckpt")
    script = textwrap.dedent(f"""
        import sys
        BLOCKED = ("torch", "tensorflow", "jax", "jaxlib", "flax", "keras")
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is blocked in this test")
        sys.meta_path.insert(0, Blocker())
        import rlmodule_core as rlm
        rlm.export_onnx({checkpoint!r}, {str(tmp_path / "p.onnx")!r}, with_actions=True)
        assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED]
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
    batch = reference_batch(rlm.RLModule.from_checkpoint(checkpoint, framework="numpy"), 3)
    got = run_onnx(tmp_path / "p.onnx", batch)
    want = numpy_reference(checkpoint, batch, with_actions=True)
    assert max(float(np.max(np.abs(want[k] - got[k]))) for k in want) <= TOL


# ---- native modules --------------------------------------------------------------------------------


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="the session does not cover torch")
def test_native_torch_module_goes_through_torch_onnx_export(tmp_path):
    import onnx
    import torch
    from rlmodule_torch import TorchRLModule

    class NativePolicy(TorchRLModule):
        def setup(self):
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))

        def _forward(self, batch, **kwargs):
            return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}

    module = NativePolicy(observation_space=gym.spaces.Box(-1, 1, (4,), np.float32), action_space=gym.spaces.Discrete(3))
    path = rlm.export_onnx(module, tmp_path / "native.onnx", with_actions=True)
    model = onnx.load(path)
    assert {p.key: p.value for p in model.metadata_props}["rlmodule.source_framework"] == "torch"
    obs = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32)
    got = run_onnx(path, {Columns.OBS: obs})
    with torch.no_grad():
        want = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS].numpy()
    np.testing.assert_allclose(got["action_dist_inputs"], want, atol=TOL)
    np.testing.assert_array_equal(got["actions"], want.argmax(-1))


@pytest.mark.skipif("tf" not in FRAMEWORKS, reason="the session does not cover tf")
def test_native_module_without_an_exporter_is_refused(tmp_path):
    import keras
    from rlmodule_onnx import OnnxExportError
    from rlmodule_tf import TfRLModule

    class NativeKeras(TfRLModule):
        def setup(self):
            self.net = keras.layers.Dense(2)

        def _forward(self, batch, **kwargs):
            return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}

    module = NativeKeras(observation_space=gym.spaces.Box(-1, 1, (4,), np.float32), action_space=gym.spaces.Discrete(2))
    with pytest.raises(OnnxExportError, match=r"native 'tf' module .* has no ONNX exporter.*neutral API"):
        rlm.export_onnx(module, tmp_path / "k.onnx")
    assert not (tmp_path / "k.onnx").exists()
