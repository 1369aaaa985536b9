"""ONNX export with no deep-learning framework: every default module, run by ONNX Runtime.

Run by the `onnx` nox session (onnx, onnxruntime, no torch/tf/jax). Checkpoints are
written by the NumPy backend here; tests/portability/test_onnx_from_frameworks.py repeats
the comparison for checkpoints written on torch, TF and JAX.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import onnx
import pytest
from rlm_onnx_cases import (
    BOX4,
    CASES,
    BranchingPolicy,
    ExtraColumnPolicy,
    NoisyPolicy,
    build,
    export_and_compare,
    max_abs_diff,
    numpy_reference,
    reference_batch,
    run_onnx,
)
from rlmodule_onnx import OnnxExportError

import rlmodule_core as rlm
from rlmodule_core import Columns

TOL = 1e-5


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    return {case: build(case, "numpy").save_to_path(root / case) for case in CASES}


@pytest.mark.parametrize("with_actions", [False, True], ids=["logits", "actions"])
@pytest.mark.parametrize("case", list(CASES))
def test_graph_matches_numpy_backend(checkpoints, tmp_path, case, with_actions):
    assert export_and_compare(checkpoints[case], tmp_path / "m.onnx", with_actions=with_actions) <= TOL


@pytest.mark.parametrize("case", ["dqn", "dqn-dueling", "dqn-distributional", "ppo-lstm", "sac-box"])
def test_train_phase_exports_q_values_and_embeddings(checkpoints, tmp_path, case):
    # DQN's inference output is an argmax; the train phase exposes its Q values, so the
    # numbers behind the actions are compared too.
    path = rlm.export_onnx(checkpoints[case], tmp_path / "train.onnx", phase="train")
    module = rlm.RLModule.from_checkpoint(checkpoints[case], framework="numpy")
    batch = reference_batch(module, 6)
    got = run_onnx(path, batch)
    want = numpy_reference(checkpoints[case], batch, with_actions=False, phase="train")
    assert max_abs_diff(want, got) <= TOL
    if case.startswith("dqn"):
        assert "qf_preds" in got and got["qf_preds"].shape == (6, 3)


@pytest.mark.parametrize("opset", [15, 17, 18, 21])
def test_supported_opsets(checkpoints, tmp_path, opset):
    for case in ("ppo-free-log-std-layernorm", "dqn-distributional", "ppo-lstm"):
        assert export_and_compare(checkpoints[case], tmp_path / f"{case}.onnx", opset=opset) <= TOL
        assert onnx.load(tmp_path / f"{case}.onnx").opset_import[0].version == opset


def test_inputs_outputs_and_metadata(checkpoints, tmp_path):
    path = rlm.export_onnx(checkpoints["ppo-lstm"], tmp_path / "lstm.onnx", with_actions=True)
    model = onnx.load(path)
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.input}
    assert dims == {
        "obs.cell": ["batch", "time"], "obs.pos": ["batch", "time", 3],
        "state_in.h": ["batch", 8], "state_in.c": ["batch", 8],
    }
    assert [o.name for o in model.graph.output] == ["action_dist_inputs", "state_out.h", "state_out.c", "actions"]
    props = {p.key: p.value for p in model.metadata_props}
    assert props["rlmodule.module_class"] == "rlmodule_core.modules.ppo:DefaultPPORLModule"
    assert props["rlmodule.action_dist_class"] == "rlmodule_core.distributions.categorical:Categorical"
    assert props["rlmodule.library_version"] == rlm.__version__
    assert props["rlmodule.source_framework"] == "numpy"
    from rlmodule_core.spaces import space_from_json

    assert space_from_json(json.loads(props["rlmodule.observation_space"])) == CASES["ppo-lstm"][1]
    assert space_from_json(json.loads(props["rlmodule.action_space"])) == CASES["ppo-lstm"][2]
    # Initializers carry the canonical state keys; nodes carry the layer paths.
    names = {t.name for t in model.graph.initializer}
    assert {"pi.layers.0.kernel", "pi.layers.0.bias", "encoder.lstm.kernel.W_iofc"} <= names
    assert not any(name.startswith("vf") for name in names)  # inference-only: no value head
    assert any(n.op_type == "LSTM" and n.name.startswith("encoder.lstm/") for n in model.graph.node)


def test_recurrent_state_round_trips_through_the_graph(checkpoints, tmp_path):
    # Stepping one time step at a time, feeding state_out back as state_in, equals one
    # call over the whole sequence on the NumPy backend.
    path = rlm.export_onnx(checkpoints["ppo-lstm"], tmp_path / "lstm.onnx")
    module = rlm.RLModule.from_checkpoint(checkpoints["ppo-lstm"], framework="numpy", inference_only=True)
    batch = reference_batch(module, 2)
    whole = module.forward_inference(batch)
    state = batch[Columns.STATE_IN]
    for t in range(3):
        step = {Columns.OBS: {k: v[:, t : t + 1] for k, v in batch[Columns.OBS].items()}, Columns.STATE_IN: state}
        out = run_onnx(path, step)
        np.testing.assert_allclose(out["action_dist_inputs"][:, 0], whole[Columns.ACTION_DIST_INPUTS][:, t], atol=TOL)
        state = {"h": out["state_out.h"], "c": out["state_out.c"]}
    np.testing.assert_allclose(state["h"], whole[Columns.STATE_OUT]["h"], atol=TOL)


def test_squashed_actions_saturate_at_the_action_bounds(checkpoints, tmp_path):
    module = rlm.RLModule.from_checkpoint(checkpoints["sac-box-array-bounds"], framework="numpy", inference_only=True)
    # A large policy bias pushes the mean far into tanh's flat tail: actions at `high`.
    state = {k: v + 20.0 if k.startswith("pi.") and k.endswith("bias") else v for k, v in module.get_state().items()}
    module.set_state(state)
    path = rlm.export_onnx(module, tmp_path / "big.onnx", with_actions=True)
    actions = run_onnx(path, reference_batch(module, 64))["actions"]
    space = CASES["sac-box-array-bounds"][2]
    assert np.all(actions >= space.low) and np.all(actions <= space.high)
    np.testing.assert_allclose(actions, np.broadcast_to(space.high, actions.shape), atol=1e-5)


def test_export_from_a_module_object_matches_its_checkpoint(checkpoints, tmp_path):
    module = rlm.RLModule.from_checkpoint(checkpoints["ppo-cnn"], framework="numpy")
    a = rlm.export_onnx(module, tmp_path / "from_module.onnx")
    b = rlm.export_onnx(checkpoints["ppo-cnn"], tmp_path / "from_ckpt.onnx")
    batch = reference_batch(module, 3)
    assert max_abs_diff(run_onnx(a, batch), run_onnx(b, batch)) == 0.0
    assert module.framework == "numpy" and not module.inference_only  # the source is untouched


def test_any_neutral_module_exports(tmp_path):
    # Not a default module: a user's RLModule with a user's Block, written against self.nn.
    from rlm_onnx_cases import TwoTowerPolicy

    module = rlm.RLModuleSpec(
        module_class=TwoTowerPolicy, observation_space=BOX4, action_space=gym.spaces.Discrete(3),
        model_config={"seed": 3}, framework="numpy",
    ).build()
    checkpoint = module.save_to_path(tmp_path / "tiny")
    assert export_and_compare(checkpoint, tmp_path / "tiny.onnx", with_actions=True) <= TOL


def test_conv_stack_transposes_once_at_each_end(checkpoints, tmp_path):
    model = onnx.load(rlm.export_onnx(checkpoints["ppo-cnn"], tmp_path / "cnn.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 3 and ops.count("Transpose") == 2


# ---- errors -------------------------------------------------------------------------------


def _numpy(cls):
    return rlm.RLModuleSpec(
        module_class=cls, observation_space=BOX4, action_space=gym.spaces.Discrete(2), framework="numpy",
        model_config={"seed": 0},
    ).build()


def test_unsupported_op_names_the_op_and_the_layer(tmp_path):
    with pytest.raises(OnnxExportError, match=r"ops\.normal.*layer 'noise' \(NoiseBlock\)"):
        rlm.export_onnx(_numpy(NoisyPolicy), tmp_path / "noisy.onnx")
    assert not (tmp_path / "noisy.onnx").exists()


def test_python_branch_on_a_tensor_is_refused(tmp_path):
    with pytest.raises(OnnxExportError, match=r"traced tensor's value in Python.*ops\.where"):
        rlm.export_onnx(_numpy(BranchingPolicy), tmp_path / "b.onnx")


def test_reading_a_column_that_is_no_input_is_refused(tmp_path):
    with pytest.raises(OnnxExportError, match=r"batch\['temperature'\].*\['obs'\]"):
        rlm.export_onnx(_numpy(ExtraColumnPolicy), tmp_path / "c.onnx")


def test_random_exploration_phase_is_refused(checkpoints, tmp_path):
    # DQN's epsilon-greedy exploration draws random numbers; PPO's exploration does not.
    with pytest.raises(OnnxExportError, match=r"ops\.as_rng.*random draws"):
        rlm.export_onnx(checkpoints["dqn"], tmp_path / "x.onnx", phase="exploration")
    path = rlm.export_onnx(checkpoints["ppo-dict"], tmp_path / "ppo.onnx", phase="exploration")
    assert [o.name for o in onnx.load(path).graph.output] == ["action_dist_inputs"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"opset": 12}, "opset must be an int from 15 to 21"),
        ({"opset": True}, "opset must be an int"),
        ({"phase": "training"}, "phase must be one of"),
        ({"phase": "train", "with_actions": True}, "with_actions applies to"),
    ],
)
def test_bad_arguments(checkpoints, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rlm.export_onnx(checkpoints["dqn"], tmp_path / "x.onnx", **kwargs)
    assert not (tmp_path / "x.onnx").exists()


def test_multi_module_and_missing_checkpoint(checkpoints, tmp_path):
    multi = rlm.MultiRLModule()
    multi.add_module("a", build("dqn", "numpy"))
    with pytest.raises(ValueError, match=r"Export one of them.*multi\['<module_id>'\]"):
        rlm.export_onnx(multi, tmp_path / "m.onnx")
    multi.save_to_path(tmp_path / "multi")
    with pytest.raises(ValueError, match=r"module IDs \['a'\].*Export a sub-checkpoint"):
        rlm.export_onnx(tmp_path / "multi", tmp_path / "m.onnx")
    rlm.export_onnx(tmp_path / "multi" / "a", tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="No checkpoint"):
        rlm.export_onnx(tmp_path / "nothing", tmp_path / "m.onnx")


def test_onnx_backend_computes_nothing_outside_an_export():
    module = build("ppo-mlp-discrete", "onnx")
    with pytest.raises(OnnxExportError, match="builds graphs and computes nothing.*export_onnx"):
        module.forward_inference({Columns.OBS: np.zeros((1, 4), np.float32)})
    # ... and says so, for code that iterates over the installed backends to run modules.
    assert rlm.get_backend("onnx").computes is False
    assert rlm.get_backend("numpy").computes is True


# ---- CLI ------------------------------------------------------------------------------------


def test_cli_export_and_inspect(checkpoints, tmp_path, capsys):
    from rlmodule_core.cli import main

    out = tmp_path / "policy.onnx"
    assert main(["export", str(checkpoints["sac-discrete"]), str(out), "--with-actions", "--opset", "18"]) == 0
    printed = capsys.readouterr().out
    assert "Inputs: obs.cell, obs.pos" in printed and "Outputs: action_dist_inputs, actions" in printed
    assert main(["inspect", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "onnx" and info["opset"] == 18
    assert info["metadata"]["module_class"] == "rlmodule_core.modules.sac:DefaultSACRLModule"
    assert info["metadata"]["action_space"] == {"type": "Discrete", "n": 3, "start": 0, "dtype": "int64"}
    assert info["outputs"] == [
        {"name": "action_dist_inputs", "dtype": "float32", "shape": ["batch", 3]},
        {"name": "actions", "dtype": "int64", "shape": ["batch"]},
    ]
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "action distribution: rlmodule_core.distributions.categorical:Categorical" in text
    assert "obs.pos" in text and "[batch, 3]" in text


def test_cli_export_verify(checkpoints, tmp_path, capsys):
    from rlmodule_core.cli import main

    out = tmp_path / "p.onnx"
    assert main(["export", str(checkpoints["ppo-tuple"]), str(out), "--with-actions", "--verify"]) == 0
    assert "Verified with ONNX Runtime: 2 outputs match" in capsys.readouterr().out


def test_verify_catches_a_graph_that_differs(checkpoints, tmp_path):
    from onnx import numpy_helper

    path = rlm.export_onnx(checkpoints["ppo-dict"], tmp_path / "p.onnx")
    backend = rlm.get_backend("onnx")
    worst, count = backend.verify_onnx(path, checkpoints["ppo-dict"])
    assert worst <= TOL and count == 1
    model = onnx.load(path)
    tensor = next(t for t in model.graph.initializer if t.name == "pi.layers.0.bias")
    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) + 0.5, tensor.name))
    onnx.save(model, path)
    worst, _ = backend.verify_onnx(path, checkpoints["ppo-dict"])
    assert abs(worst - 0.5) < 1e-5


def test_cli_export_errors_are_one_line(checkpoints, tmp_path, capsys):
    from rlmodule_core.cli import main

    assert main(["export", str(tmp_path / "missing"), str(tmp_path / "x.onnx")]) == 2
    assert main(["export", str(checkpoints["dqn"]), str(tmp_path / "x.onnx"), "--opset", "9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "rlmodule export: error: opset must be" in err
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert main(["inspect", str(tmp_path / "junk.onnx")]) == 2
    assert "is not a readable ONNX model" in capsys.readouterr().err


# ---- no framework anywhere ---------------------------------------------------------------------

BLOCKER = """
import sys
BLOCKED = ("torch", "tensorflow", "jax", "jaxlib", "flax", "keras")
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Blocker())
"""


def test_export_runs_where_no_framework_can_be_imported(checkpoints, tmp_path):
    script = BLOCKER + textwrap.dedent(f"""
        import rlmodule_core as rlm
        assert "onnx" not in sys.modules, "import rlmodule_core imported onnx"
        rlm.export_onnx({str(checkpoints["ppo-lstm"])!r}, {str(tmp_path / "p.onnx")!r}, with_actions=True)
        rlm.export_onnx({str(checkpoints["sac-box"])!r}, {str(tmp_path / "s.onnx")!r}, with_actions=True)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
    batch = reference_batch(rlm.RLModule.from_checkpoint(checkpoints["sac-box"], framework="numpy"), 4)
    want = numpy_reference(checkpoints["sac-box"], batch, with_actions=True)
    assert max_abs_diff(want, run_onnx(tmp_path / "s.onnx", batch)) <= TOL
