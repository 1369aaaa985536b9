"""Target networks and compile, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from rlmodule_core import Columns
from rlmodule_core.testing.helpers import assert_tree_close, batch, build, numpy_tree, states_equal
from rlmodule_core.testing.modules import QWithTarget, TinyPolicy


def _q(module, framework, b):
    return numpy_tree(module.forward_inference(b)["qf_preds"], framework)


def test_target_network_equals_main_then_stays_independent(framework, backend):
    module = build(QWithTarget, framework)
    module.make_target_networks()
    state = module.get_state()
    main = {k[len("qf."):]: v for k, v in state.items() if k.startswith("qf.")}
    target = {k[len("_target_qf."):]: v for k, v in state.items() if k.startswith("_target_qf.")}
    assert main.keys() == target.keys() and states_equal(main, target)
    module.set_state({k: (v + 1.0 if k.startswith("qf.") else v) for k, v in state.items()})
    after = module.get_state()
    assert all(np.array_equal(after["_target_qf." + k], target[k]) for k in target)


@pytest.mark.parametrize("tau", [0.25, 1.0])
def test_update_target_network_is_polyak(framework, backend, tau):
    module = build(QWithTarget, framework)
    module.make_target_networks()
    state = module.get_state()
    shifted = {k: (v + 2.0 if k.startswith("qf.") else v) for k, v in state.items()}
    module.set_state(shifted)
    backend.update_target_network(module.qf, module._target_qf, tau)
    after = module.get_state()
    for key in (k for k in state if k.startswith("_target_qf.")):
        main_key = key.replace("_target_qf.", "qf.")
        expected = tau * shifted[main_key] + (1 - tau) * state[key]
        np.testing.assert_allclose(after[key], expected, rtol=1e-6, atol=1e-6)


def test_state_with_target_keys_makes_targets(framework):
    source = build(QWithTarget, framework)
    source.make_target_networks()
    fresh = build(QWithTarget, framework)
    assert not any("target" in k for k in fresh.get_state())
    fresh.set_state(source.get_state())
    assert states_equal(fresh.get_state(), source.get_state())


def test_failed_set_state_removes_targets_it_made(framework):
    source = build(QWithTarget, framework)
    source.make_target_networks()
    state = source.get_state()
    state["qf.layers.0.kernel"] = np.zeros((1, 1), np.float32)
    fresh = build(QWithTarget, framework)
    with pytest.raises(ValueError):
        fresh.set_state(state)
    assert not any("target" in k for k in fresh.get_state())


def test_compile_keeps_outputs_and_state_sync(framework, backend):
    module = build(TinyPolicy, framework)
    other = build(TinyPolicy, framework)
    b = batch(4)
    eager = numpy_tree(module.forward_inference(b), framework)
    compiled = backend.compile(module)
    assert compiled is module or isinstance(compiled, TinyPolicy)
    for _ in range(2):  # the second call runs the cached compiled path
        assert_tree_close(numpy_tree(compiled.forward_inference(b), framework), eager, atol=1e-5)
    compiled.set_state(other.get_state())
    assert_tree_close(
        numpy_tree(compiled.forward_inference(b), framework),
        numpy_tree(other.forward_inference(b), framework),
        atol=1e-5,
    )
    assert states_equal(compiled.get_state(), other.get_state())
    explore = numpy_tree(compiled.forward_exploration(b), framework)
    assert explore[Columns.ACTION_DIST_INPUTS].shape == (4, 3)


def test_update_target_network_rejects_bad_arguments(framework, backend):
    module = build(QWithTarget, framework)
    module.make_target_networks()
    before = module.get_state()
    with pytest.raises(ValueError, match=r"Expected tau in \[0, 1\]; received 1.5"):
        backend.update_target_network(module.qf, module._target_qf, 1.5)
    with pytest.raises(ValueError, match="different parameters"):
        backend.update_target_network(build(TinyPolicy, framework).pi, module._target_qf, 0.5)
    assert states_equal(module.get_state(), before)
