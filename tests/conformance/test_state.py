"""get_state / set_state semantics, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_tree_close, batch, build, numpy_tree, states_equal
from rlm_test_modules import TinyPolicy


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
