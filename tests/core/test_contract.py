"""The backend contract in code: check_backend names what a broken backend lacks, the
registry refuses such a backend, and the shipped suite's backend selection fails loudly."""

from __future__ import annotations

import types

import pytest
import rlmodule_numpy
from rlmodule_numpy import nn as numpy_nn
from rlmodule_numpy import ops as numpy_ops

import rlmodule_core as rlm
from rlmodule_core.backend import registry
from rlmodule_core.backend.contract import (
    LAYER_NAMES,
    OPS_NAMES,
    BackendContractError,
    check_backend,
    check_optimizer,
    check_signature,
)
from rlmodule_core.testing import selected_backends


def _namespace(source, drop=(), **replace):
    names = {n: getattr(source, n) for n in dir(source) if not n.startswith("_")}
    for name in drop:
        names.pop(name)
    names.update(replace)
    return types.SimpleNamespace(**names)


def _broken_backend():
    """The NumPy backend with ops.logsumexp missing, ops.split misnamed and nn.LSTM gone."""

    def split(x, sections, axis=0):  # wrong parameter name and default
        return numpy_ops.split(x, sections, axis)

    class Broken(type(rlmodule_numpy.backend)):
        name = "broken"
        ops = _namespace(numpy_ops, drop=["logsumexp"], split=split)
        nn = _namespace(numpy_nn, drop=["LSTM"])

    return Broken()


def test_the_contract_lists_every_op_and_layer():
    assert len(OPS_NAMES) == 47 and "logsumexp" in OPS_NAMES and "normal" in OPS_NAMES
    assert set(LAYER_NAMES) == {"Dense", "Conv2D", "LSTM", "LayerNorm", "Bias", "Activation",
                                "Flatten", "Sequential", "List", "Dict"}
    assert check_backend(rlm.get_backend("numpy")) == []


def test_check_backend_names_missing_and_misnamed_pieces():
    problems = check_backend(_broken_backend())
    assert len(problems) == 3, problems
    assert problems[0].startswith("ops.split: expected (x, indices_or_sections, axis=-1), found (x, sections, axis=0)")
    assert "no parameter 'indices_or_sections'" in problems[0] and "'axis' has default 0, expected -1" in problems[0]
    assert problems[1] == "ops.logsumexp is missing; expected logsumexp(x, axis=-1, keepdims=False)"
    assert problems[2] == "nn.LSTM is missing; expected LSTM(input_size, hidden_size)"


def test_check_backend_names_missing_backend_attributes():
    problems = check_backend(types.SimpleNamespace(name=3, ops=numpy_ops, nn=numpy_nn))
    assert "Backend.name must be a str; received 3" in problems
    assert any(p.startswith("Backend.RLModule is missing") for p in problems)
    assert any(p.startswith("Backend.make_optimizer is missing") for p in problems)


def test_signature_rules():
    import inspect

    def want(x, axis=-1, keepdims=False): ...

    expected = inspect.signature(want)
    assert check_signature(lambda x, axis=-1, keepdims=False, name=None: x, expected) is None  # extra default
    assert check_signature(lambda *args, **kwargs: None, expected) is None  # a wrapper: checked by calling
    assert "extra required parameter 'out'" in check_signature(lambda x, out, axis=-1, keepdims=False: x, expected)
    assert "must be passable by name" in check_signature(eval("lambda x, axis=-1, keepdims=False, /: x"), expected)


def test_the_registry_refuses_a_broken_backend():
    registry.register_backend("broken", _broken_backend())
    try:
        with pytest.raises(BackendContractError, match="does not meet the backend contract") as info:
            rlm.get_backend("broken")
        assert "ops.logsumexp is missing" in str(info.value) and "nn.LSTM is missing" in str(info.value)
        assert isinstance(info.value, TypeError)
    finally:
        registry._entries.pop("broken")
        registry._aliases.pop("broken")


def test_check_optimizer_names_what_is_missing():
    class HalfOptimizer:
        def update(self, loss_fn, batch):
            return {}

    with pytest.raises(BackendContractError, match="lacks get_state, set_state, learning_rate"):
        check_optimizer(HalfOptimizer(), "mine")


def test_selected_backends_fails_on_unknown_or_uninstalled_backends(monkeypatch):
    monkeypatch.setenv("RLMODULE_TEST_BACKENDS", "np, numpy")
    assert selected_backends() == ["numpy"]
    monkeypatch.setenv("RLMODULE_TEST_BACKENDS", "numpy,nosuch")
    with pytest.raises(ValueError, match="RLMODULE_TEST_BACKENDS names 'nosuch': Unknown framework"):
        selected_backends()
    monkeypatch.setenv("RLMODULE_TEST_BACKENDS", " , ")
    with pytest.raises(ValueError, match="names no backend"):
        selected_backends()
    registry.register_backend("ghost", "rlmodule_ghost_backend:backend", requires=("rlmodule_ghost_backend",), extra="ghost")
    try:
        monkeypatch.setenv("RLMODULE_TEST_BACKENDS", "ghost")
        with pytest.raises(ImportError, match="names 'ghost', which cannot be loaded: .*pip install"):
            selected_backends()
    finally:
        registry._entries.pop("ghost")
        registry._aliases.pop("ghost")
