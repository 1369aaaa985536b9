"""A forward pass that assigns module attributes behaves the same on every backend (DESIGN §13).

Under the default compiled forwards (JAX's jax.jit, TF's tf.function) such an
assignment would happen only while tracing: the module runs eagerly instead, with one
warning that says why and how to compile it. It is never dropped and never surfaces a
framework-internal error.
"""

from __future__ import annotations

import warnings

import numpy as np

from rlmodule_core import Columns
from rlmodule_core.testing.helpers import batch, build, numpy_tree
from rlmodule_core.testing.modules import TinyPolicy


class Recorder(TinyPolicy):
    """TinyPolicy that remembers its last keyword arguments and output (debugging style)."""

    def _forward(self, batch, **kwargs):
        out = super()._forward(batch, **kwargs)
        self.last_kwargs = kwargs
        self.last_logits = out[Columns.ACTION_DIST_INPUTS]
        self.calls = getattr(self, "calls", 0) + 1
        return out

    def _forward_train(self, batch, **kwargs):
        return self._forward(batch, **kwargs)


def test_attribute_assignments_in_forward_are_kept_with_at_most_one_warning(framework):
    module = build(Recorder, framework, model_config={"seed": 0})
    reference = build(TinyPolicy, "numpy", model_config={"seed": 0})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, method in enumerate(["forward_inference", "forward_exploration", "forward_train"] * 2):
            obs = batch(3, seed=i)
            out = getattr(module, method)(obs, t=i)
            assert module.calls == i + 1
            assert set(module.last_kwargs) == {"t"} and int(numpy_tree(module.last_kwargs["t"], framework)) == i
            logits = numpy_tree(module.last_logits, framework)  # a concrete value, not a symbolic one
            np.testing.assert_allclose(logits, numpy_tree(out[Columns.ACTION_DIST_INPUTS], framework))
            np.testing.assert_allclose(logits, reference.forward_inference(obs)[Columns.ACTION_DIST_INPUTS], atol=1e-5)
    messages = [str(w.message) for w in caught if "assigns self." in str(w.message)]
    if framework in ("jax", "tf"):  # the backends whose forwards are compiled by default
        assert len(messages) == 1, messages
        message = messages[0]
        assert "Recorder._forward_inference assigns self.last_kwargs during a forward pass" in message
        assert "runs its forward passes eagerly" in message and "To compile it" in message
        assert "turn compilation off" in message
    else:
        assert messages == []


def test_a_forward_without_side_effects_warns_nothing(framework):
    module = build(TinyPolicy, framework, model_config={"seed": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            module.forward_inference(batch(2))
            module.forward_train(batch(2))
