"""backend.compile on torch: torch.compile of the forward passes, state sync afterwards.

Each test compiles once (inductor on CPU takes seconds per graph).
"""

from __future__ import annotations

import pickle

import pytest
import torch
from rlmodule_torch.module import COMPILED_ATTRIBUTES  # noqa: E402

import rlmodule_core as rlm  # noqa: E402
from rlmodule_core import Columns  # noqa: E402
from rlmodule_core.testing.helpers import ACT, OBS, batch, build  # noqa: E402
from rlmodule_core.testing.modules import TinyPolicy  # noqa: E402


@pytest.fixture
def counters():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    return counters


def test_compiled_inference_matches_eager_and_follows_set_state(counters):
    module = build(TinyPolicy, "torch", model_config={"seed": 0})
    other = build(TinyPolicy, "torch", model_config={"seed": 1})
    torch_keys, state_keys = list(module.state_dict()), list(module.get_state())
    b = batch(4)
    eager = module.forward_inference(b)[Columns.ACTION_DIST_INPUTS]
    assert rlm.get_backend("torch").compile(module) is module
    for _ in range(3):
        assert torch.allclose(module.forward_inference(b)[Columns.ACTION_DIST_INPUTS], eager, atol=1e-6)
    assert counters["stats"]["unique_graphs"] == 1 and not counters["graph_break"]  # one graph, reused
    module.set_state(other.get_state())
    assert torch.allclose(
        module.forward_inference(b)[Columns.ACTION_DIST_INPUTS],
        other.forward_inference(b)[Columns.ACTION_DIST_INPUTS], atol=1e-6,
    )
    assert counters["stats"]["unique_graphs"] == 1  # new weights, same graph
    assert list(module.state_dict()) == torch_keys  # no "_orig_mod." prefixes
    assert list(module.get_state()) == state_keys
    # Copies run eagerly (compiled functions are bound to the original instance).
    clone = pickle.loads(pickle.dumps(module))
    assert not any(name in clone.__dict__ for name in COMPILED_ATTRIBUTES)
    assert torch.allclose(clone.forward_inference(b)[Columns.ACTION_DIST_INPUTS],
                          other.forward_inference(b)[Columns.ACTION_DIST_INPUTS], atol=1e-6)


def test_compiled_train_gives_the_eager_gradients(counters):
    compiled = build(TinyPolicy, "torch", model_config={"seed": 0})
    eager = build(TinyPolicy, "torch", model_config={"seed": 0})
    rlm.get_backend("torch").compile(compiled, dynamic=False)
    b = batch(6)
    for module in (compiled, eager):
        out = module.forward_train(b)
        (out[Columns.ACTION_DIST_INPUTS].square().sum() + out[Columns.EMBEDDINGS].sum()).backward()
    for (name, p), (_, q) in zip(compiled.named_parameters(), eager.named_parameters()):
        if name.startswith("vf."):
            continue  # not part of this loss
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name
    assert not counters["graph_break"]


def test_compile_of_a_multi_rl_module_compiles_each_module():
    spec = rlm.RLModuleSpec(module_class=TinyPolicy, observation_space=OBS, action_space=ACT, framework="torch")
    multi = rlm.MultiRLModuleSpec(rl_module_specs={"a": spec, "b": spec}).build()
    assert rlm.get_backend("torch").compile(multi, dynamic=True) is multi
    for module in multi.values():  # torch.compile is lazy: nothing is traced until called
        assert all(name in module.__dict__ for name in COMPILED_ATTRIBUTES)


def test_compile_rejects_other_objects():
    with pytest.raises(TypeError, match="compiles TorchRLModules"):
        rlm.get_backend("torch").compile(torch.nn.Linear(2, 2))


def test_nested_compile_options_reach_every_phase(counters):
    # torch.compile pops guard_filter_fn from its `options` dict: each phase needs its own copy.
    seen = []

    def keep_all(entries):
        seen.append(len(entries))
        return [True] * len(entries)

    module = build(TinyPolicy, "torch")
    options = {"guard_filter_fn": keep_all}
    rlm.get_backend("torch").compile(module, options=options)
    module.forward_inference(batch(4))
    module.forward_train(batch(4))
    assert len(seen) == 2 and options == {"guard_filter_fn": keep_all}
