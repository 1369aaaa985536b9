"""Target networks on torch: frozen copies, polyak updates over parameters and buffers."""

from __future__ import annotations

import pytest
import torch
from rlmodule_torch import make_target_network, update_target_network  # noqa: E402

from rlmodule_core.testing.helpers import build  # noqa: E402
from rlmodule_core.testing.modules import QWithTarget  # noqa: E402


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))


def test_target_is_a_frozen_independent_copy():
    main = net()
    target = make_target_network(main)
    assert target is not main
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in main.parameters())
    for (name, a), (_, b) in zip(main.state_dict().items(), target.state_dict().items()):
        assert torch.equal(a, b), name
    with torch.no_grad():
        main[0].weight.add_(1.0)
    assert not torch.equal(main[0].weight, target[0].weight)


def test_polyak_update_covers_buffers_and_builds_no_graph():
    main, target = net(), None
    target = make_target_network(main)
    main.train()
    main(torch.randn(16, 3))  # moves BatchNorm's running statistics and its counter
    with torch.no_grad():
        for p in main.parameters():
            p.add_(2.0)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    update_target_network(main, target, 0.25)
    after, source = target.state_dict(), main.state_dict()
    for key, value in after.items():
        if value.is_floating_point():
            assert torch.allclose(value, 0.25 * source[key] + 0.75 * before[key], atol=1e-6), key
        else:
            assert torch.equal(value, source[key]), key  # num_batches_tracked is copied
        assert value.grad_fn is None
    update_target_network(main, target, 1.0)
    assert all(torch.equal(v, main.state_dict()[k]) for k, v in target.state_dict().items())


def test_update_runs_under_an_enclosing_graph():
    main = torch.nn.Linear(2, 2)
    target = make_target_network(main)
    loss = main(torch.ones(1, 2)).sum()
    update_target_network(main, target, 0.5)  # in place, no autograd error on leaf tensors
    loss.backward()
    assert main.weight.grad is not None and target.weight.grad is None


def test_bad_arguments():
    main = net()
    with pytest.raises(ValueError, match=r"tau in \[0, 1\]"):
        update_target_network(main, make_target_network(main), 1.5)
    with pytest.raises(ValueError, match="different parameters"):
        update_target_network(main, torch.nn.Linear(3, 4), 0.5)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        make_target_network([torch.zeros(1)])


def test_module_targets_are_frozen_and_in_the_state():
    module = build(QWithTarget, "torch")
    module.make_target_networks()
    target = module._target_qf  # a neutral Sequential: its attribute view is its own
    assert target.layers is target._modules["layers"] and target.layers is not module.qf.layers
    frozen = [p for n, p in module.named_parameters() if n.startswith("_target_qf.")]
    assert frozen and not any(p.requires_grad for p in frozen)
    optimizer = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=1.0)
    module.forward_train({"obs": torch.ones(2, 4)})["qf_preds"].sum().backward()
    optimizer.step()
    state = module.get_state()
    assert not (state["qf.layers.0.kernel"] == state["_target_qf.layers.0.kernel"]).all()
