"""Action distributions, written once against a backend's ``ops`` namespace.

A module's forward pass returns flat distribution inputs ("logits") under
``Columns.ACTION_DIST_INPUTS``; a distribution class turns them into samples,
log-probabilities, entropies and KL divergences on whichever backend made the
tensor. Each instance holds the ``ops`` of its backend: pass ``ops=`` explicitly or
let ``ops_for`` find it from the tensor type through the backend registry.

Samples have the shape ``sample_shape + batch_shape + event_shape``; ``logp``,
``entropy`` and ``kl`` sum over the event dimensions and return ``batch_shape``
(``logp`` of samples drawn with a ``sample_shape`` returns ``sample_shape +
batch_shape``).

``rng`` is ``None`` (the backend's process-wide default generator), an int seed (the
same seed gives the same samples) or the backend's generator object (see
``ops.as_rng``).

Example:
    >>> import gymnasium as gym
    >>> from rlmodule_numpy import ops
    >>> from rlmodule_core.distributions import get_action_dist_cls
    >>> space = gym.spaces.Discrete(3)
    >>> cls = get_action_dist_cls(space)            # Categorical
    >>> logits = ops.zeros((4, cls.required_input_dim(space)))
    >>> dist = cls.from_logits(logits, ops=ops)
    >>> actions = dist.sample(rng=0)                # shape (4,), values in [0, 3)
    >>> dist.logp(actions).shape
    (4,)
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rlmodule_core.distributions._base import Distribution, ops_for
from rlmodule_core.distributions.categorical import Categorical, MultiCategorical
from rlmodule_core.distributions.deterministic import Deterministic
from rlmodule_core.distributions.gaussian import DiagGaussian, SquashedGaussian
from rlmodule_core.distributions.multi import MultiDistribution

__all__ = [
    "Categorical",
    "Deterministic",
    "DiagGaussian",
    "Distribution",
    "MultiCategorical",
    "MultiDistribution",
    "SquashedGaussian",
    "get_action_dist_cls",
    "ops_for",
]

# ----------------------------------------------------------------------------------------
# Space -> class


def get_action_dist_cls(action_space: gym.spaces.Space) -> type[Distribution]:
    """The default distribution class for an action space.

    float ``Box`` -> ``DiagGaussian`` (``DiagGaussian.for_shape(shape)`` unless the
    shape is 1-D), ``Discrete`` -> ``Categorical``, ``MultiDiscrete`` ->
    ``MultiCategorical.for_nvec(nvec)``, ``Tuple``/``Dict`` ->
    ``MultiDistribution.for_children(...)`` of the sub-spaces' classes (recursively).

    Discrete samples are indices in ``[0, n)``; the env runner adds ``space.start``.

    Example:
        >>> get_action_dist_cls(gym.spaces.Discrete(4))
        <class 'rlmodule_core.distributions.Categorical'>
    """
    space = action_space
    if isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.floating):
        return DiagGaussian if len(space.shape) == 1 else DiagGaussian.for_shape(space.shape)
    if isinstance(space, gym.spaces.Discrete):
        return Categorical
    if isinstance(space, gym.spaces.MultiDiscrete):
        return MultiCategorical.for_nvec(space.nvec)
    if isinstance(space, gym.spaces.Tuple):
        classes = tuple(get_action_dist_cls(s) for s in space.spaces)
        lens = tuple(c.required_input_dim(s) for c, s in zip(classes, space.spaces, strict=True))
        return MultiDistribution.for_children(classes, lens)
    if isinstance(space, gym.spaces.Dict):
        classes_d = {k: get_action_dist_cls(s) for k, s in space.spaces.items()}
        lens_d = {k: classes_d[k].required_input_dim(s) for k, s in space.spaces.items()}
        return MultiDistribution.for_children(classes_d, lens_d)
    hint = ""
    if isinstance(space, gym.spaces.Box):
        hint = " An integer Box is not supported: use MultiDiscrete, or a float Box."
    elif isinstance(space, gym.spaces.MultiBinary):
        hint = " For MultiBinary(n) use MultiDiscrete([2] * n)."
    raise ValueError(
        "Expected a float Box, Discrete, MultiDiscrete, Tuple or Dict action space; "
        f"received {space!r}.{hint} Fix: change the action space, or pass your own "
        "Distribution subclass to the module instead of relying on the default."
    )
