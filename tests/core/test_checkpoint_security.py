"""Checkpoints are data: no code runs, no path escapes, no save destroys foreign files.

Each test plays an attacker who edits a checkpoint and then recomputes every checksum
(the metadata's own included), so checksums alone never save the day.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import blake3
import gymnasium as gym
import numpy as np
import pytest

import rlmodule_core as rlm
from rlmodule_core.checkpoint import CheckpointError, read_metadata, resolve_class
from rlmodule_core.checkpoint.inspect import describe, format_text
from rlmodule_core.checkpoint.metadata import canonical
from rlmodule_core.cli import main
from rlmodule_core.testing.modules import QWithTarget, TinyPolicy

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)


def make(cls=TinyPolicy, **kw):
    return rlm.RLModuleSpec(module_class=cls, observation_space=OBS, action_space=ACT, framework="numpy", **kw).build()


def multi(**modules):
    m = rlm.MultiRLModule()
    for module_id, module in modules.items():
        m.add_module(module_id, module)
    return m


def rewrite(directory: Path, edit) -> None:
    """Edits ``metadata.json`` with ``edit(metadata)`` and re-signs every checksum."""
    meta_path = directory / "metadata.json"
    metadata = json.loads(meta_path.read_text())
    edit(metadata)
    for name in list(metadata.get("files", {})):
        file = directory / name
        if file.is_file():
            metadata["files"][name] = blake3.blake3(file.read_bytes()).hexdigest()
    metadata["metadata_digest"] = blake3.blake3(canonical(metadata)).hexdigest()
    meta_path.write_text(json.dumps(metadata))


def resign_parent(parent: Path) -> None:
    rewrite(parent, lambda m: None)


def snapshot(module) -> dict:
    return {k: np.array(v, copy=True) for k, v in module.get_state().items()}


def assert_same(module, before: dict) -> None:
    after = module.get_state()
    assert after.keys() == before.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value)


# ---- 1. restoring never imports code ----------------------------------------------------


def _planted_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    """A checkpoint naming ``planted_pkg.policy:Policy``, whose import writes a marker file."""
    package = tmp_path / "planted_pkg"
    package.mkdir()
    marker = tmp_path / "code-ran"
    (package / "__init__.py").write_text("")
    (package / "policy.py").write_text(textwrap.dedent(f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("ran")
        from rlmodule_core.testing.modules import TinyPolicy

        class Policy(TinyPolicy):
            pass
    """))
    path = tmp_path / "c"
    make().save_to_path(path)
    rewrite(path, lambda m: m.update({"class": "planted_pkg.policy:Policy"}))
    return path, marker


def test_restoring_never_imports_the_recorded_module(tmp_path, monkeypatch):
    path, marker = _planted_checkpoint(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CheckpointError) as info:
        rlm.RLModule.from_checkpoint(path)
    message = str(info.value)
    assert "planted_pkg.policy:Policy" in message
    assert "module_class=" in message and "trust_code=True" in message and "import" in message
    assert not marker.exists()
    assert "planted_pkg.policy" not in sys.modules
    # Explicit trust imports it, and then (already imported) it resolves without trust.
    restored = rlm.RLModule.from_checkpoint(path, trust_code=True)
    assert marker.exists() and type(restored).__name__ == "Policy"
    assert rlm.RLModule.from_checkpoint(path).__class__.__name__ == "Policy"
    sys.modules.pop("planted_pkg.policy", None)
    sys.modules.pop("planted_pkg", None)


def test_multi_sub_module_classes_are_not_imported_even_with_module_class(tmp_path, monkeypatch):
    package = tmp_path / "planted_sub"
    package.mkdir()
    marker = tmp_path / "sub-ran"
    (package / "__init__.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n")
    path = tmp_path / "m"
    multi(a=make()).save_to_path(path)
    rewrite(path, lambda m: m["modules"]["a"].update({"module_class": "planted_sub:Policy"}))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CheckpointError, match="planted_sub:Policy"):
        rlm.MultiRLModule.from_checkpoint(path, module_class=rlm.MultiRLModule)
    assert not marker.exists()


def test_spec_from_dict_follows_the_same_rule(tmp_path, monkeypatch):
    spec = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT).to_dict()
    spec["module_class"] = "json.decoder:Nope"  # already imported, attribute missing
    with pytest.raises(CheckpointError, match="json.decoder:Nope"):
        rlm.RLModuleSpec.from_dict(spec)
    spec["module_class"] = "planted_never:Policy"
    with pytest.raises(CheckpointError, match="trust_code=True"):
        rlm.RLModuleSpec.from_dict(spec)


def test_registered_and_library_classes_resolve_without_trust():
    from rlmodule_core.modules import DefaultPPORLModule

    assert resolve_class("rlmodule_core.modules.ppo:DefaultPPORLModule") is DefaultPPORLModule

    class Registered(TinyPolicy):
        pass

    rlm.register_module_class(Registered, "somewhere.else:Renamed")
    assert resolve_class("somewhere.else:Renamed") is Registered


def test_main_script_classes_restore_in_their_script_without_warning(tmp_path):
    script = tmp_path / "train_script.py"
    script.write_text(textwrap.dedent(f"""
        import warnings
        warnings.simplefilter("error")
        import gymnasium as gym, numpy as np
        import rlmodule_core as rlm
        from rlmodule_core.testing.modules import TinyPolicy

        class ScriptPolicy(TinyPolicy):
            pass

        spec = rlm.RLModuleSpec(module_class=ScriptPolicy, observation_space=gym.spaces.Box(-1, 1, (4,)),
                                action_space=gym.spaces.Discrete(2), framework="numpy")
        path = spec.build().save_to_path({str(tmp_path / "ckpt")!r})
        restored = rlm.RLModule.from_checkpoint(path)
        assert type(restored).__name__ == "ScriptPolicy", type(restored)
        print("ok")
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "support"), *sys.path])}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    # Another process does not have that __main__ class: a clear error, no import.
    with pytest.raises(CheckpointError, match="__main__:ScriptPolicy.*module_class="):
        rlm.RLModule.from_checkpoint(tmp_path / "ckpt")


# ---- 2. a save never destroys what it did not write ----------------------------------------


def test_save_refuses_a_directory_with_foreign_files_and_deletes_nothing(tmp_path):
    experiment = tmp_path / "exp"
    experiment.mkdir()
    (experiment / "metadata.json").write_text('{"experiment": 1}')
    (experiment / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt"):
        make().save_to_path(experiment)
    assert (experiment / "notes.txt").read_text() == "mine"
    assert json.loads((experiment / "metadata.json").read_text()) == {"experiment": 1}

    path = make().save_to_path(tmp_path / "c")
    (Path(path) / "README.md").write_text("added by a user")
    (Path(path) / "eval").mkdir()
    with pytest.raises(ValueError, match=r"README.md.*eval|eval.*README.md"):
        make().save_to_path(path)
    assert (Path(path) / "README.md").exists() and (Path(path) / "eval").is_dir()


def test_save_refuses_extra_files_inside_a_multi_checkpoint(tmp_path):
    path = Path(multi(a=make(), b=make()).save_to_path(tmp_path / "m"))
    (path / "a" / "extra.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="a/extra.bin"):
        multi(a=make(), b=make()).save_to_path(path)
    assert (path / "a" / "extra.bin").exists()


def test_resave_keeps_the_directory_permissions(tmp_path):
    path = Path(make().save_to_path(tmp_path / "c"))
    os.chmod(path, 0o750)
    make().save_to_path(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o750
    old = os.umask(0o027)
    try:
        fresh = Path(make().save_to_path(tmp_path / "fresh"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o750


# ---- 3. every path stays inside --------------------------------------------------------


@pytest.mark.parametrize("name", ["../outside.bin", "/etc/hostname", "a/../../x", ".hidden", "sub\\x", ""])
def test_file_names_must_be_plain_relative_names(tmp_path, name):
    path = Path(make().save_to_path(tmp_path / "c"))
    rewrite(path, lambda m: m["files"].update({name: "0" * 64}))
    with pytest.raises(CheckpointError, match="files"):
        rlm.RLModule.from_checkpoint(path)
    with pytest.raises(CheckpointError):
        describe(path)


def test_state_file_must_be_listed_and_inside(tmp_path):
    other = Path(make().save_to_path(tmp_path / "other"))
    path = Path(make().save_to_path(tmp_path / "c"))
    target = make()
    before = snapshot(target)

    rewrite(path, lambda m: m.update({"state_file": "../other/module_state.safetensors"}))
    with pytest.raises(CheckpointError, match="state_file"):
        target.restore_from_path(path)

    def unlisted(m):
        m["state_file"] = "elsewhere.safetensors"
    (path / "elsewhere.safetensors").write_bytes((other / "module_state.safetensors").read_bytes())
    rewrite(path, unlisted)
    with pytest.raises(CheckpointError, match="listed"):
        target.restore_from_path(path)
    assert_same(target, before)


def test_symlinked_state_file_and_sub_module_are_refused(tmp_path):
    elsewhere = Path(make().save_to_path(tmp_path / "elsewhere"))
    path = Path(make().save_to_path(tmp_path / "c"))
    state = path / "module_state.safetensors"
    state.unlink()
    state.symlink_to(elsewhere / "module_state.safetensors")
    rewrite(path, lambda m: None)
    with pytest.raises(CheckpointError, match="symbolic link"):
        rlm.RLModule.from_checkpoint(path)
    with pytest.raises(CheckpointError, match="symbolic link"):
        describe(path)

    m = Path(multi(a=make()).save_to_path(tmp_path / "m"))
    import shutil

    shutil.rmtree(m / "a")
    (m / "a").symlink_to(elsewhere, target_is_directory=True)
    resign_parent(m)
    with pytest.raises(CheckpointError, match="symbolic link"):
        rlm.MultiRLModule.from_checkpoint(m)
    with pytest.raises(CheckpointError, match="symbolic link"):
        describe(m)


# ---- 4./5. malformed metadata and state files --------------------------------------------


BAD_METADATA = {
    "class not a string": (lambda m: m.update({"class": 5}), "'class'"),
    "ctor missing": (lambda m: m.pop("ctor"), "'ctor'"),
    "ctor a list": (lambda m: m.update({"ctor": []}), "'ctor'"),
    "flags a string": (lambda m: m["ctor"].update({"inference_only": "false"}), "ctor.inference_only"),
    "version a string": (lambda m: m.update({"format_version": "1"}), "format_version"),
    "version zero": (lambda m: m.update({"format_version": 0}), "format_version"),
    "files a list": (lambda m: m.update({"files": []}), "'files'"),
    "space not a dict": (lambda m: m["ctor"].update({"observation_space": "Box"}), "observation_space"),
    "space shape strings": (lambda m: m["ctor"]["observation_space"].update({"shape": ["4"]}), "shape"),
    "huge box": (lambda m: m["ctor"].update({"observation_space": {"type": "Box", "shape": [5000, 5000],
                                             "dtype": "float32", "low": -1.0, "high": 1.0}}), "observation_space"),
    "unknown kind": (lambda m: m.update({"kind": "rootkit"}), "'kind'"),
    "model_config list": (lambda m: m["ctor"].update({"model_config": [1]}), "model_config"),
}


@pytest.mark.parametrize("case", sorted(BAD_METADATA))
def test_malformed_metadata_is_one_named_checkpoint_error(tmp_path, case, capsys):
    edit, field = BAD_METADATA[case]
    path = Path(make().save_to_path(tmp_path / "c"))
    rewrite(path, edit)
    target = make()
    before = snapshot(target)
    with pytest.raises(CheckpointError, match="metadata.json") as info:
        rlm.RLModule.from_checkpoint(path)
    assert field in str(info.value)
    with pytest.raises(CheckpointError):
        target.restore_from_path(path)
    assert_same(target, before)
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "metadata.json" in err


UNBACKED_SIZES = {
    "box": lambda m: m["ctor"].update({"observation_space": {
        "type": "Box", "shape": [2048, 2048], "dtype": "float32", "low": -1.0, "high": 1.0}}),
    "discrete": lambda m: m["ctor"].update({"action_space": {"type": "Discrete", "n": 10**9}}),
    "hidden": lambda m: m["ctor"]["model_config"].update({"fcnet_hiddens": [10**8]}),
}


@pytest.mark.parametrize("case", sorted(UNBACKED_SIZES))
def test_sizes_the_state_file_cannot_back_are_refused_before_building(tmp_path, case):
    source = make(model_config={"seed": 3})
    path = Path(source.save_to_path(tmp_path / "c"))
    rewrite(path, UNBACKED_SIZES[case])
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="state file holds only"):
            rlm.RLModule.from_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    # Restoring weights into an existing module builds nothing: the sizes do not matter.
    target = make()
    target.restore_from_path(path)
    assert_same(target, snapshot(source))


def test_deeply_nested_metadata_is_refused_without_recursion_error(tmp_path):
    path = Path(make().save_to_path(tmp_path / "c"))
    deep = "[" * 100_000 + "]" * 100_000
    (path / "metadata.json").write_text('{"format": "rlmodule-core/checkpoint", "x": ' + deep + "}")
    with pytest.raises(CheckpointError, match="nested"):
        read_metadata(path)
    (path / "metadata.json").write_text('{"format": "rlmodule-core/checkpoint", "x": ' + "[" * 150 + "]" * 150 + "}")
    with pytest.raises(CheckpointError, match="nested deeper than 100"):
        read_metadata(path)


def test_inspect_validates_the_state_header_like_restore(tmp_path, capsys):
    path = Path(make().save_to_path(tmp_path / "c"))
    state = path / "module_state.safetensors"
    data = state.read_bytes()
    for header_length in (2**33, 2**63):
        state.write_bytes(header_length.to_bytes(8, "little") + data[8:])
        rewrite(path, lambda m: None)
        assert main(["inspect", str(path)]) == 1
        err = capsys.readouterr().err
        assert "header claims" in err and err.count("\n") == 1
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    name = next(k for k in header if k != "__metadata__")
    for damage in ({"dtype": "F99"}, {"data_offsets": [0, 10**12]}, {"shape": [-1]}):
        bad = dict(header)
        bad[name] = {**header[name], **damage}
        text = json.dumps(bad).encode()
        text += b" " * (-len(text) % 8)
        state.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + length :])
        rewrite(path, lambda m: None)
        assert main(["inspect", str(path)]) == 1
        assert capsys.readouterr().err.count("\n") == 1
        with pytest.raises(CheckpointError):
            rlm.RLModule.from_checkpoint(path)
    state.write_bytes(data[:-16])  # short data
    rewrite(path, lambda m: None)
    assert main(["inspect", str(path)]) == 1


def test_inspect_escapes_control_characters(tmp_path, capsys):
    module = make(model_config={"note": "\x1b[2J\x1b[31mOK\x07"})
    path = module.save_to_path(tmp_path / "c")
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out
    info = describe(path)
    assert "\x1b" in info["model_config"]["note"]  # data is kept; only printing escapes
    assert "\x1b" not in format_text(info)


def test_cli_untrusted_class_exits_1_in_one_line_and_trust_code_flag(tmp_path, capsys, monkeypatch):
    path, marker = _planted_checkpoint(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "converted"
    assert main(["convert", str(path), str(out), "--to", "numpy"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--trust-code" in err and "Traceback" not in err
    assert not marker.exists() and not out.exists()
    assert main(["convert", str(path), str(out), "--to", "numpy", "--trust-code"]) == 0
    assert marker.exists()
    sys.modules.pop("planted_pkg.policy", None)
    sys.modules.pop("planted_pkg", None)


def test_cli_refusing_to_overwrite_is_usage_error(tmp_path, capsys):
    path = make().save_to_path(tmp_path / "c")
    out = tmp_path / "exp"
    out.mkdir()
    (out / "results.csv").write_text("1")
    assert main(["convert", path, str(out), "--to", "numpy"]) == 2
    assert "results.csv" in capsys.readouterr().err
    assert (out / "results.csv").read_text() == "1"


# ---- 7. all-or-nothing for MultiRLModule ---------------------------------------------------


def test_multi_set_state_failure_removes_targets_made_for_other_modules():
    m = multi(a=make(QWithTarget), b=make(QWithTarget))
    state = m.get_state()
    good_a = {**state["a"], "_target_qf.layers.0.kernel": state["a"]["qf.layers.0.kernel"],
              "_target_qf.layers.0.bias": state["a"]["qf.layers.0.bias"],
              "_target_qf.layers.1.kernel": state["a"]["qf.layers.1.kernel"],
              "_target_qf.layers.1.bias": state["a"]["qf.layers.1.bias"]}
    bad_b = {**state["b"], "qf.layers.0.kernel": np.zeros((2, 2), np.float32)}
    before = {mid: snapshot(m[mid]) for mid in m.keys()}
    with pytest.raises(ValueError, match=r"(?s)\[module .b.\].*qf.layers.0.kernel"):
        m.set_state({"a": good_a, "b": bad_b})
    assert not hasattr(m["a"], "_target_qf")
    for mid, snap in before.items():
        assert_same(m[mid], snap)


def test_multi_restore_failure_changes_no_module(tmp_path):
    source = multi(a=make(QWithTarget), b=make(QWithTarget))
    source["a"].make_target_networks()
    path = Path(source.save_to_path(tmp_path / "m"))
    state = path / "b" / "module_state.safetensors"
    state.write_bytes(state.read_bytes()[:-4])
    target = multi(a=make(QWithTarget), b=make(QWithTarget))
    before = {mid: snapshot(target[mid]) for mid in target.keys()}
    with pytest.raises(CheckpointError, match="b/module_state.safetensors"):
        target.restore_from_path(path)
    assert not hasattr(target["a"], "_target_qf")
    for mid, snap in before.items():
        assert_same(target[mid], snap)


# ---- 8. strict values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, kind",
    [
        (lambda a: a.astype(np.complex64), "complex"),
        (lambda a: a.astype(str), "string"),
        (lambda a: a.astype(object), "object"),
        (lambda a: a > 0, "boolean"),
    ],
)
def test_set_state_refuses_non_real_arrays_and_names_the_key(value, kind):
    module = make()
    before = snapshot(module)
    state = module.get_state()
    state["pi.bias"] = value(state["pi.bias"])
    with pytest.raises(ValueError, match=rf"pi.bias: expected real numbers.*{kind}"):
        module.set_state(state)
    assert_same(module, before)


def test_set_state_accepts_float64_and_ints_for_float32():
    module = make()
    state = {k: v.astype(np.float64) + 1 for k, v in module.get_state().items()}
    state["pi.bias"] = np.arange(3)
    module.set_state(state)
    assert module.get_state()["pi.bias"].dtype == np.float32
    np.testing.assert_array_equal(module.get_state()["pi.bias"], [0, 1, 2])


def test_spec_from_dict_checks_every_field_type():
    good = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT).to_dict()
    assert rlm.RLModuleSpec.from_dict(good).inference_only is False
    for field, value in [("inference_only", "false"), ("learner_only", 0), ("model_config", [1]),
                         ("framework", 3), ("module_class", 7), ("observation_space", "Box")]:
        with pytest.raises(ValueError, match=field):
            rlm.RLModuleSpec.from_dict({**good, field: value})
    with pytest.raises(ValueError, match="rl_module_specs"):
        rlm.MultiRLModuleSpec.from_dict({"rl_module_specs": [good]})
    with pytest.raises(ValueError, match="inference_only"):
        rlm.MultiRLModuleSpec.from_dict({"rl_module_specs": {"a": good}, "inference_only": "no"})


# ---- 9. module IDs that can live on disk ----------------------------------------------------


@pytest.mark.parametrize("module_id", ["metadata.json", "METADATA.JSON", "module_state.safetensors", ".a", "-a"])
def test_reserved_module_ids_are_refused(module_id):
    m = rlm.MultiRLModule()
    with pytest.raises(ValueError, match="Invalid module ID"):
        m.add_module(module_id, make())
    assert len(m) == 0
    spec = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT, framework="numpy")
    with pytest.raises(ValueError, match="Invalid module ID"):
        rlm.MultiRLModuleSpec(rl_module_specs={module_id: spec}).build()


def test_module_ids_equal_ignoring_case_are_refused():
    m = multi(policy=make())
    with pytest.raises(ValueError, match="ignoring case"):
        m.add_module("Policy", make())
    assert list(m.keys()) == ["policy"]
    m.add_module("policy", make(), override=True)  # the same ID is a replacement, not a clash
    spec = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT, framework="numpy")
    with pytest.raises(ValueError, match="ignoring case"):
        rlm.MultiRLModuleSpec(rl_module_specs={"A": spec, "a": spec}).build()
    multi_spec = rlm.MultiRLModuleSpec(rl_module_specs={"A": spec})
    with pytest.raises(ValueError, match="ignoring case"):
        multi_spec.add_modules({"a": spec})


def test_component_paths_resolve_an_exact_module_id_first(tmp_path):
    m = multi(**{"a": make(), "a.b": make(model_config={"hidden": 4})})
    assert list(m.get_state(components="a.b")) == ["a.b"]
    assert sorted(m.get_state(components="a.b.pi")["a.b"]) == ["pi.bias", "pi.kernel"]
    assert list(m.get_state(components="a")) == ["a"]
    path = m.save_to_path(tmp_path / "m")
    other = multi(**{"a": make(), "a.b": make(model_config={"hidden": 4})})
    before_a = snapshot(other["a"])
    other.restore_from_path(path, component="a.b")
    assert_same(other["a"], before_a)
    assert_same(other["a.b"], snapshot(m["a.b"]))


def test_checkpoint_with_colliding_module_ids_is_refused(tmp_path):
    path = Path(multi(a=make()).save_to_path(tmp_path / "m"))
    rewrite(path, lambda meta: meta.update({"module_ids": ["a", "A"]}))
    with pytest.raises(CheckpointError, match="ignoring case"):
        rlm.MultiRLModule.from_checkpoint(path)


def test_saves_write_format_version_2_with_blake3(tmp_path):
    path = Path(make().save_to_path(tmp_path / "c"))
    metadata = json.loads((path / "metadata.json").read_text())
    assert metadata["format_version"] == 2 and metadata["digest"] == "blake3"
    assert "metadata_sha256" not in metadata
    state = (path / "module_state.safetensors").read_bytes()
    assert metadata["files"] == {"module_state.safetensors": blake3.blake3(state).hexdigest()}
    assert metadata["metadata_digest"] == blake3.blake3(canonical(metadata)).hexdigest()
    assert isinstance(rlm.RLModule.from_checkpoint(path), TinyPolicy)


def test_inspect_of_a_learner_checkpoint_describes_its_module(tmp_path, capsys):
    from rlmodule_core.checkpoint import FORMAT_NAME, write_metadata

    root = tmp_path / "learner"
    root.mkdir()
    make(model_config={"hidden": 8}).save_to_path(root / "module")
    digest = blake3.blake3((root / "module" / "metadata.json").read_bytes()).hexdigest()
    write_metadata(root, {"format": FORMAT_NAME, "kind": "learner",
                          "class": "rlmodule_core.train.learner:Learner", "config": {}, "num_updates": 3},
                   {"module/metadata.json": digest})
    assert main(["inspect", str(root)]) == 0
    out = capsys.readouterr().out
    assert str(root / "module") in out and "checksums:" in out and "OK" in out and "vf.kernel" in out
    # A learner checkpoint is no module: from_checkpoint says where the module is.
    with pytest.raises(CheckpointError, match="'module' sub-directory"):
        rlm.RLModule.from_checkpoint(root)
    # It is a checkpoint of this format holding exactly its files: a save may replace it.
    make().save_to_path(root)
    assert sorted(os.listdir(root)) == ["metadata.json", "module_state.safetensors"]


def test_a_box_without_dtype_is_a_named_checkpoint_error_for_restore_and_inspect(tmp_path):
    # Found by the fuzzer: inspect printed the space and raised KeyError('dtype').
    path = Path(make().save_to_path(tmp_path / "c"))
    rewrite(path, lambda m: m["ctor"]["observation_space"].pop("dtype"))
    for call in (lambda: rlm.RLModule.from_checkpoint(path), lambda: describe(path)):
        with pytest.raises(CheckpointError, match=r"observation_space.*dtype.* is missing"):
            call()


def test_a_version_2_checkpoint_signed_with_sha256_is_refused_by_name(tmp_path):
    import hashlib

    path = Path(make().save_to_path(tmp_path / "c"))
    metadata = json.loads((path / "metadata.json").read_text())
    metadata["digest"] = "sha256"
    metadata["files"] = {"module_state.safetensors": hashlib.sha256((path / "module_state.safetensors").read_bytes()).hexdigest()}
    metadata["metadata_digest"] = hashlib.sha256(canonical(metadata)).hexdigest()
    (path / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(CheckpointError, match=r"field 'digest'.*expected one of \['blake3'\], received 'sha256'.*re-save"):
        rlm.RLModule.from_checkpoint(path)
    # The same checksums under the version 1 field name, in a version 2 file: refused too.
    metadata["digest"] = "blake3"
    metadata["metadata_sha256"] = metadata.pop("metadata_digest")
    (path / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(CheckpointError, match=r"expected the metadata's checksum in 'metadata_digest'.*'metadata_sha256'"):
        describe(path)
