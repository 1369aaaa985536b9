"""Action distributions on torch tensors: torch generators, gradients through logp and rsample.

Values on every backend: rlmodule_core.testing.test_distributions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from rlmodule_torch import ops  # noqa: E402

import rlmodule_core as rlm  # noqa: E402
from rlmodule_core import Columns  # noqa: E402
from rlmodule_core.distributions import (  # noqa: E402
    Categorical,
    DiagGaussian,
    MultiCategorical,
    SquashedGaussian,
    get_action_dist_cls,
)
from rlmodule_core.modules import DefaultPPORLModule  # noqa: E402


def test_samples_are_torch_tensors_and_seeds_match_generators():
    dist = Categorical.from_logits(torch.zeros(64, 4))
    assert isinstance(dist.sample(), torch.Tensor) and dist.sample().dtype == torch.int64
    assert torch.equal(dist.sample(rng=ops.rng(4)), dist.sample(rng=4))  # an int seeds a Generator


@pytest.mark.parametrize("cls, dim", [
    (Categorical, 4),
    (DiagGaussian, 6),
    (SquashedGaussian.with_bounds(-2.0, 3.0), 4),
    (MultiCategorical.for_nvec([2, 3]), 5),
])
def test_default_stream_follows_torch_manual_seed(cls, dim):
    dist = cls.from_logits(torch.zeros(64, dim))
    torch.manual_seed(11)
    c = dist.sample(sample_shape=(3,))
    torch.manual_seed(11)
    assert torch.equal(c, dist.sample(sample_shape=(3,))) and c.shape[0] == 3


def ppo(action_space, **config):
    return rlm.RLModuleSpec(
        module_class=DefaultPPORLModule,
        observation_space=gym.spaces.Box(-1.0, 1.0, (4,), np.float32),
        action_space=action_space,
        model_config={"fcnet_hiddens": [16, 16], "vf_share_layers": False, "seed": 0, **config},
        framework="torch",
    ).build()


def test_logp_gradient_reaches_every_policy_parameter_of_default_ppo():
    module = ppo(gym.spaces.Discrete(3))
    batch = {Columns.OBS: np.random.default_rng(0).uniform(-1, 1, (32, 4)).astype(np.float32)}
    out = module.forward_train(batch)
    dist = module.get_train_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
    actions = dist.sample(rng=0)
    advantages = torch.randn(32, generator=ops.rng(1))
    values = module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS])
    # A PPO-shaped loss: policy term from logp, value term, entropy bonus.
    loss = -(dist.logp(actions) * advantages).mean() + values.square().mean() - 0.01 * dist.entropy().mean()
    loss.backward()
    params = dict(module.named_parameters())
    assert any(k.startswith("vf_encoder.") for k in params)
    missing = [k for k, p in params.items() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []
    # logp alone reaches the whole actor (encoder and pi head), and nothing of the critic.
    module.zero_grad()
    dist = module.get_train_action_dist_cls().from_logits(
        module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    )
    dist.logp(actions).sum().backward()
    for name, p in params.items():
        reached = p.grad is not None and bool(torch.any(p.grad != 0))
        assert reached == name.startswith(("encoder.", "pi.")), name


def test_rsample_gradient_flows_for_gaussians():
    # Seeded and moderate: no sample lands where tanh saturates to exactly 1 in float32.
    logits = (0.5 * torch.randn(8, 4, generator=ops.rng(0))).requires_grad_()
    for cls in (DiagGaussian, SquashedGaussian):
        logits.grad = None
        dist = cls.from_logits(logits)
        actions, logp = dist.rsample(rng=0, return_logp=True)
        actions.sum().backward(retain_graph=True)
        assert logits.grad is not None and torch.all(logits.grad != 0)  # mean and log_std
        sampled = dist.sample(rng=0)
        assert not sampled.requires_grad
        assert torch.allclose(sampled, actions.detach())  # same seed, same draw


def test_box_action_ppo_logp_gradient():
    module = ppo(gym.spaces.Box(-1.0, 1.0, (2,), np.float32), free_log_std=True)
    out = module.forward_train({Columns.OBS: torch.rand(8, 4)})
    dist_cls = module.get_train_action_dist_cls()
    assert dist_cls is get_action_dist_cls(module.action_space)
    dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
    dist.logp(torch.zeros(8, 2)).mean().backward()
    assert module.log_std.bias.grad is not None and torch.all(module.log_std.bias.grad != 0)
