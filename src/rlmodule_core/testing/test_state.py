"""get_state / set_state semantics, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from rlmodule_core.testing.helpers import assert_tree_close, batch, build, numpy_tree, states_equal
from rlmodule_core.testing.modules import TinyPolicy


def test_set_state_makes_two_modules_equal(framework):
    a, b = build(TinyPolicy, framework), build(TinyPolicy, framework)
    b.set_state(a.get_state())
    assert states_equal(a.get_state(), b.get_state())
    assert_tree_close(
        numpy_tree(a.forward_inference(batch()), framework),
        numpy_tree(b.forward_inference(batch()), framework),
    )


def test_get_state_returns_copies(framework):
    module = build(TinyPolicy, framework)
    state = module.get_state()
    state["pi.kernel"][...] = 123.0
    assert not np.array_equal(module.get_state()["pi.kernel"], state["pi.kernel"])


def test_get_state_out_refills_matching_arrays_in_place(framework):
    module = build(TinyPolicy, framework)
    first = module.get_state()
    changed = {k: v + 1.0 for k, v in first.items()}
    module.set_state(changed)
    out = dict(first)
    out["pi.kernel"] = np.zeros((2, 2), np.float32)  # wrong shape: a new array instead
    out["pi.bias"] = first["pi.bias"].astype(np.float64)  # wrong dtype: a new array instead
    out["not.a.key"] = np.zeros(3, np.float32)  # ignored
    got = module.get_state(out=out)
    assert states_equal(got, changed)
    assert all(got[k] is first[k] for k in first if not k.startswith("pi."))
    assert got["pi.kernel"] is not out["pi.kernel"] and got["pi.bias"] is not out["pi.bias"]
    got["vf.kernel"][...] = 123.0  # still copies: the module does not alias them
    assert not np.array_equal(module.get_state()["vf.kernel"], got["vf.kernel"])
    slim = module.get_state(inference_only=True, out=first)
    assert "vf.kernel" not in slim and slim["encoder.net.layers.0.kernel"] is first["encoder.net.layers.0.kernel"]


def test_set_state_copies_in_and_casts(framework):
    module = build(TinyPolicy, framework)
    state = {k: v.astype(np.float64) + 1.0 for k, v in module.get_state().items()}
    module.set_state(state)
    got = module.get_state()
    assert got["pi.kernel"].dtype == np.float32
    np.testing.assert_allclose(got["pi.kernel"], state["pi.kernel"], rtol=1e-6)
    state["pi.kernel"][...] = 0.0  # the module must not alias the caller's arrays
    assert not np.allclose(module.get_state()["pi.kernel"], 0.0)


@pytest.mark.parametrize("defect", ["missing", "unexpected", "misshaped"])
def test_strict_set_state_rejects_and_changes_nothing(framework, defect):
    module = build(TinyPolicy, framework)
    before = module.get_state()
    state = {k: v + 1.0 for k, v in before.items()}
    if defect == "missing":
        del state["vf.bias"]
        match = "missing keys .*vf.bias"
    elif defect == "unexpected":
        state["nope.kernel"] = np.zeros((2, 2), np.float32)
        match = "unexpected keys .*nope.kernel"
    else:
        state["pi.kernel"] = np.zeros((3, 3), np.float32)
        match = r"pi.kernel: expected shape \(16, 3\), received \(3, 3\)"
    with pytest.raises(ValueError, match=match):
        module.set_state(state)
    assert states_equal(module.get_state(), before)


def test_non_strict_set_state_loads_matching_keys_and_reports(framework):
    module = build(TinyPolicy, framework)
    state = {k: v + 1.0 for k, v in module.get_state().items()}
    del state["vf.bias"]
    state["extra.w"] = np.zeros(2, np.float32)
    missing, unexpected = module.set_state(state, strict=False)
    assert missing == ["vf.bias"] and unexpected == ["extra.w"]
    np.testing.assert_allclose(module.get_state()["pi.kernel"], state["pi.kernel"])
    with pytest.raises(ValueError, match="mis-shaped"):
        module.set_state({"pi.kernel": np.zeros((1,), np.float32)}, strict=False)


def test_get_state_component_filters(framework):
    module = build(TinyPolicy, framework)
    keys = set(module.get_state())
    assert set(module.get_state("encoder")) == {k for k in keys if k.startswith("encoder.")}
    assert set(module.get_state(["pi", "vf"])) == {"pi.kernel", "pi.bias", "vf.kernel", "vf.bias"}
    assert set(module.get_state(not_components="encoder")) == {"pi.kernel", "pi.bias", "vf.kernel", "vf.bias"}
    assert set(module.get_state(inference_only=True)) == keys - {"vf.kernel", "vf.bias"}
    with pytest.raises(ValueError, match="Unknown state components"):
        module.get_state("encoderr")
