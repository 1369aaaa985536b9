"""Action distributions on torch tensors: generators, gradients through logp and rsample."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rlmodule_numpy import ops as nops  # noqa: E402
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


def test_distributions_find_torch_ops():
    dist = Categorical.from_logits(torch.zeros(2, 3))
    assert dist.ops is ops
    assert isinstance(dist.sample(), torch.Tensor) and dist.sample().dtype == torch.int64


@pytest.mark.parametrize("cls, dim", [
    (Categorical, 4),
    (DiagGaussian, 6),
    (SquashedGaussian.with_bounds(-2.0, 3.0), 4),
    (MultiCategorical.for_nvec([2, 3]), 5),
])
def test_seeded_sampling_is_reproducible(cls, dim):
    # Flat distributions over 64 rows: two independent draws never coincide by chance.
    dist = cls.from_logits(torch.zeros(64, dim))
    a = dist.sample(rng=ops.rng(4))
    b = dist.sample(rng=4)
    assert torch.equal(a, b)
    g = ops.rng(4)
    first, second = dist.sample(rng=g), dist.sample(rng=g)
    assert torch.equal(first, a) and not torch.equal(first, second)  # one stream continues
    torch.manual_seed(11)
    c = dist.sample(sample_shape=(3,))
    torch.manual_seed(11)
    assert torch.equal(c, dist.sample(sample_shape=(3,))) and c.shape[0] == 3


def test_torch_and_numpy_distributions_agree():
    logits = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    actions = np.array([0, 1, 2, 3, 0, 1])
    for cls, x in [(Categorical, actions), (DiagGaussian, logits[:, :2])]:
        t = cls.from_logits(torch.from_numpy(logits))
        n = cls.from_logits(logits, ops=nops)
        np.testing.assert_allclose(ops.to_numpy(t.logp(torch.from_numpy(x))), n.logp(x), atol=1e-5)
        np.testing.assert_allclose(ops.to_numpy(t.entropy()), n.entropy(), atol=1e-5)
        other = np.roll(logits, 1, axis=0)
        np.testing.assert_allclose(
            ops.to_numpy(t.kl(cls.from_logits(torch.from_numpy(other)))),
            n.kl(cls.from_logits(other, ops=nops)), atol=1e-5,
        )


def test_categorical_sample_frequencies():
    probs = torch.tensor([0.1, 0.6, 0.3])
    dist = Categorical.from_logits(torch.log(probs).expand(20000, 3))
    counts = torch.bincount(dist.sample(rng=0), minlength=3).float() / 20000
    assert torch.allclose(counts, probs, atol=0.015)


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
