"""MultiDistribution: Tuple and Dict action spaces, one child distribution per part."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlmodule_core.distributions._base import (
    Distribution,
    SampleShape,
    Tensor,
    _kind_error,
    _resolve_ops,
    _space_error,
    _subclass,
)
from rlmodule_core.distributions.categorical import _total

__all__ = ["MultiDistribution"]

# ----------------------------------------------------------------------------------------
# MultiDistribution (Tuple and Dict spaces)


def _items(struct: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, Any]]:
    if isinstance(struct, Mapping):
        return list(struct.items())
    return list(enumerate(struct))


def _rebuild(template: Sequence[Any] | Mapping[str, Any], values: list[Any]) -> Any:
    if isinstance(template, Mapping):
        return dict(zip(template.keys(), values, strict=True))
    return tuple(values)


class MultiDistribution(Distribution):
    """Independent child distributions for a ``Tuple`` or ``Dict`` action space.

    Build the class with ``for_children``; its ``from_logits`` splits the flat
    logits into consecutive chunks, one per child, in the order of the children (for
    a gymnasium ``Dict`` that is the space's key order, sorted unless it was built from
    an ``OrderedDict``). Samples have the structure of the children: a ``tuple`` for a
    sequence of children, a ``dict`` for a mapping, nested for nested spaces.
    ``logp`` takes such a structure (a list works for a tuple) and returns the sum of
    the children's log-probabilities; ``entropy`` and ``kl`` are sums too.

    Example:
        >>> cls = MultiDistribution.for_children(
        ...     {"move": DiagGaussian, "fire": Categorical}, {"move": 4, "fire": 2})
        >>> dist = cls.from_logits(ops.zeros((8, 6)), ops=ops)
        >>> actions = dist.sample(rng=0)   # {"move": (8, 2) float, "fire": (8,) int}
        >>> dist.logp(actions).shape
        (8,)
    """

    child_classes: ClassVar[tuple[type, ...] | dict[str, type] | None] = None
    input_lens: ClassVar[tuple[int, ...] | dict[str, int] | None] = None

    def __init__(
        self,
        children: Sequence[Distribution] | Mapping[str, Distribution],
        *,
        ops: ModuleType,
    ) -> None:
        super().__init__(ops=ops)
        self.children = dict(children) if isinstance(children, Mapping) else tuple(children)
        if not self.children:
            raise ValueError(
                "MultiDistribution expected at least one child distribution; received "
                "none. Tuple and Dict action spaces need at least one sub-space."
            )

    @classmethod
    def for_children(
        cls,
        child_classes_struct: Sequence[type] | Mapping[str, type],
        input_lens_struct: Sequence[int] | Mapping[str, int],
    ) -> type:
        """A subclass for these child classes and their logits sizes (same structure)."""
        is_map = isinstance(child_classes_struct, Mapping)
        ok = is_map == isinstance(input_lens_struct, Mapping) and len(child_classes_struct) == len(
            input_lens_struct
        )
        if ok and is_map:
            ok = list(child_classes_struct) == list(input_lens_struct)
        if ok:
            ok = len(child_classes_struct) > 0 and all(
                isinstance(c, type) and issubclass(c, Distribution) and int(n) > 0
                for (_, c), (_, n) in zip(
                    _items(child_classes_struct), _items(input_lens_struct), strict=True
                )
            )
        if not ok:
            raise ValueError(
                f"{cls.__name__}.for_children expected a non-empty tuple (or dict) of "
                "Distribution classes and a tuple (or dict with the same keys in the same "
                f"order) of positive input sizes; received {child_classes_struct!r} and "
                f"{input_lens_struct!r}. Use get_action_dist_cls(space) for Tuple and Dict "
                "spaces."
            )
        if is_map:
            classes: Any = dict(child_classes_struct)
            lens: Any = {k: int(n) for k, n in input_lens_struct.items()}
            key = (tuple(classes.items()), tuple(lens.items()))
            label = ", ".join(f"{k}: {c.__name__}" for k, c in classes.items())
        else:
            classes = tuple(child_classes_struct)
            lens = tuple(int(n) for n in input_lens_struct)
            key = (classes, lens)
            label = ", ".join(c.__name__ for c in classes)
        return _subclass(
            cls,
            "for_children",
            (classes, lens),
            key,
            label,
            {"child_classes": classes, "input_lens": lens},
        )

    @classmethod
    def from_logits(cls, logits: Tensor, *, ops: ModuleType | None = None) -> MultiDistribution:
        if cls.child_classes is None or cls.input_lens is None:
            raise ValueError(
                "MultiDistribution.from_logits needs the child classes and their input "
                "sizes; received the bare class. Use get_action_dist_cls(space) or "
                "MultiDistribution.for_children(classes, input_lens)."
            )
        ops = _resolve_ops(logits, ops)
        logits = ops.asarray(logits)
        lens = [n for _, n in _items(cls.input_lens)]
        logits_shape = ops.shape(logits)
        if not logits_shape or logits_shape[-1] != sum(lens):
            raise ValueError(
                f"{cls.__name__} expected logits with a last axis of {sum(lens)} (the sum "
                f"of the children's input sizes {lens}); received shape {logits_shape}. "
                "Size the output layer with required_input_dim(action_space)."
            )
        parts = ops.split(logits, list(np.cumsum(lens[:-1]).tolist()), axis=-1)
        children = [
            child.from_logits(part, ops=ops)
            for (_, child), part in zip(_items(cls.child_classes), parts, strict=True)
        ]
        return cls(_rebuild(cls.child_classes, children), ops=ops)

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        if cls.input_lens is not None:
            return int(sum(n for _, n in _items(cls.input_lens)))
        if not isinstance(space, gym.spaces.Tuple | gym.spaces.Dict):
            raise _space_error(cls, "a gymnasium Tuple or Dict space", space)
        subspaces = space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces
        from rlmodule_core.distributions import (
            get_action_dist_cls,  # the package imports this module
        )

        return int(sum(get_action_dist_cls(s).required_input_dim(s) for s in subspaces))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return _items(self.children)[0][1].batch_shape

    def _draw(self, method: str, sample_shape: SampleShape, rng: Any, return_logp: bool) -> Any:
        # One generator for all children, drawn from in order: a seed fixes every part.
        rng = self.ops.as_rng(rng)
        drawn = [
            getattr(child, method)(sample_shape=sample_shape, rng=rng, return_logp=True)
            for _, child in _items(self.children)
        ]
        actions = _rebuild(self.children, [a for a, _ in drawn])
        if return_logp:
            return actions, _total(lp for _, lp in drawn)
        return actions

    def sample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        return self._draw("sample", sample_shape, rng, return_logp)

    def rsample(
        self, *, sample_shape: SampleShape = (), rng: Any = None, return_logp: bool = False
    ) -> Any:
        return self._draw("rsample", sample_shape, rng, return_logp)

    def _values_of(self, x: Any) -> list[Any]:
        if isinstance(self.children, dict):
            if not isinstance(x, Mapping) or set(x) != set(self.children):
                raise ValueError(
                    f"{type(self).__name__}.logp expected a dict with the keys "
                    f"{list(self.children)}; received {type(x).__name__}"
                    f"{' with keys ' + str(list(x)) if isinstance(x, Mapping) else ''}. "
                    "Pass actions with the structure of the action space."
                )
            return [x[k] for k in self.children]
        if isinstance(x, Mapping) or not isinstance(x, Sequence) or len(x) != len(self.children):
            raise ValueError(
                f"{type(self).__name__}.logp expected a tuple of {len(self.children)} "
                f"actions; received {type(x).__name__}. Pass actions with the structure "
                "of the action space."
            )
        return list(x)

    def logp(self, x: Any) -> Tensor:
        values = self._values_of(x)
        return _total(
            child.logp(v) for (_, child), v in zip(_items(self.children), values, strict=True)
        )

    def entropy(self) -> Tensor:
        return _total(child.entropy() for _, child in _items(self.children))

    def kl(self, other: Distribution) -> Tensor:
        same = isinstance(other, MultiDistribution) and (
            list(self.children) == list(other.children)
            if isinstance(self.children, dict)
            else isinstance(other.children, tuple) and len(other.children) == len(self.children)
        )
        if not same:
            raise _kind_error(self, other, "a MultiDistribution with the same children")
        return _total(
            a.kl(b)
            for (_, a), (_, b) in zip(_items(self.children), _items(other.children), strict=True)
        )

    def to_deterministic(self) -> MultiDistribution:
        children = [child.to_deterministic() for _, child in _items(self.children)]
        return MultiDistribution(_rebuild(self.children, children), ops=self.ops)


