"""One walker for nested batches: dicts (any ``Mapping``), tuples, lists and namedtuples.

Every backend converts its batches with ``map_leaves``, and the catalog, the
algorithms and the env runner walk nested observations with these functions, so a
structure that works on one backend works on all of them (DESIGN section 13).

Containers keep their types: a namedtuple stays that namedtuple, a tuple a tuple, a
list a list, a ``dict`` (or ``OrderedDict``, ``defaultdict``, ...) a copy of its own
type; a read-only ``Mapping`` becomes a ``dict``. ``map_leaves`` returns the *same*
object wherever nothing changed, so a flat dict of tensors that needs no conversion
costs one loop over its items and no copy (``benchmarks/tree_map.py`` measures this
against ``optree``, which always rebuilds every container).

Example:
    >>> from rlmodule_core.backend import tree
    >>> batch = {"obs": (np.zeros(2), np.ones(3))}
    >>> tree.map_leaves(lambda x: x + 1, batch)["obs"][1]
    array([2., 2., 2.])
    >>> tree.leaves(batch)[0].shape
    (2,)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["first_leaf", "leaves", "map_leaves", "map_structures"]


_NESTED = (Mapping, list, tuple)
# Whether a type is a container, by type: ``isinstance(x, Mapping)`` is an ABC check
# (~0.1 us, more than the rest of a leaf's visit), so each type is checked once.
_NESTED_TYPES: dict[type, bool] = {dict: True, list: True, tuple: True}


def _is_nested(kind: type) -> bool:
    nested = _NESTED_TYPES.get(kind)
    if nested is None:
        nested = _NESTED_TYPES[kind] = issubclass(kind, _NESTED)
    return nested


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _rebuild_mapping(tree: Mapping, changed: dict) -> Any:
    """``tree`` with the entries of ``changed`` replaced, in ``tree``'s own type."""
    if type(tree) is dict:
        out = dict(tree)
    elif isinstance(tree, dict):
        out = copy.copy(tree)  # OrderedDict, defaultdict, ... keep their type and extras
    else:
        out = dict(tree)  # a read-only Mapping: the batch becomes a plain dict
    out.update(changed)
    return out


def _rebuild_sequence(tree: list | tuple, items: list) -> Any:
    if type(tree) is tuple:
        return tuple(items)
    if type(tree) is list:
        return items
    if _is_namedtuple(tree):
        return type(tree)(*items)
    return type(tree)(items)


def map_leaves(fn: Callable[[Any], Any], tree: Any, keep: type | tuple[type, ...] = ()) -> Any:
    """``tree`` with ``fn`` applied to every leaf; the same object where nothing changed.

    Args:
        fn: called on each leaf (anything that is not a Mapping, list or tuple).
        tree: a leaf or a nested structure of Mappings, lists, tuples and namedtuples.
        keep: leaf types returned as they are without calling ``fn`` (the framework's
            tensor type): a flat dict of them is one loop with no call and no copy.

    Returns:
        The mapped structure, with the container types of ``tree``.

    Example:
        >>> b = {"obs": t, "extra": [np.zeros(2)]}
        >>> out = map_leaves(torch.as_tensor, b, keep=torch.Tensor)
        >>> out["obs"] is t and type(out["extra"]) is list
        True
    """
    # The exact type first: a dict batch is the common case and the cheapest check.
    kind = type(tree)
    if kind is dict or (_is_nested(kind) and isinstance(tree, Mapping)):
        changed = None
        for key, value in tree.items():
            if isinstance(value, keep):
                continue
            # Leaves are mapped here rather than in a recursive call, and the type look-up
            # is inlined (one call less per leaf each).
            nested = _NESTED_TYPES.get(type(value))
            if nested is None:
                nested = _is_nested(type(value))
            new = map_leaves(fn, value, keep) if nested else fn(value)
            if new is not value:
                if changed is None:
                    changed = {}
                changed[key] = new
        return tree if changed is None else _rebuild_mapping(tree, changed)
    if isinstance(tree, keep):
        return tree
    if _is_nested(kind):
        items = [map_leaves(fn, value, keep) for value in tree]
        for new, old in zip(items, tree):
            if new is not old:
                return _rebuild_sequence(tree, items)
        return tree
    return fn(tree)


def map_structures(fn: Callable[..., Any], trees: list[Any] | tuple[Any, ...]) -> Any:
    """One structure from several of the same structure: ``fn(*leaves)`` at each position.

    Used to stack or concatenate per-step observations. Containers take the types of
    the first tree; a Mapping becomes a dict with the first tree's keys.

    Example:
        >>> map_structures(lambda *xs: np.stack(xs), [{"a": (x0, y0)}, {"a": (x1, y1)}])
        {'a': (stack([x0, x1]), stack([y0, y1]))}

    Raises:
        ValueError: the trees differ in structure (the message names the path).
    """
    return _map_structures(fn, list(trees), "")


def _map_structures(fn: Callable[..., Any], trees: list[Any], path: str) -> Any:
    first = trees[0]
    if isinstance(first, Mapping):
        for other in trees[1:]:
            if not isinstance(other, Mapping) or other.keys() != first.keys():
                raise ValueError(
                    f"Structures differ at {path or 'the root'}: a Mapping with keys {list(first)} "
                    f"and {type(other).__name__} {list(other) if isinstance(other, Mapping) else ''}. "
                    "Every step must have the same structure."
                )
        return {k: _map_structures(fn, [t[k] for t in trees], f"{path}[{k!r}]") for k in first}
    if isinstance(first, list | tuple):
        for other in trees[1:]:
            if not isinstance(other, list | tuple) or len(other) != len(first):
                raise ValueError(
                    f"Structures differ at {path or 'the root'}: a sequence of length {len(first)} "
                    f"and {type(other).__name__}. Every step must have the same structure."
                )
        items = [_map_structures(fn, [t[i] for t in trees], f"{path}[{i}]") for i in range(len(first))]
        return _rebuild_sequence(first, items)
    return fn(*trees)


def leaves(tree: Any) -> list[Any]:
    """The leaves of ``tree`` in order (Mapping insertion order, sequence order).

    Example:
        >>> leaves({"a": 1, "b": (2, [3])})
        [1, 2, 3]
    """
    out: list[Any] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list | tuple):
            stack.extend(reversed(node))
        else:
            out.append(node)
    return out


def first_leaf(tree: Any) -> Any:
    """The first leaf of ``tree`` (e.g. to read the batch size of nested observations).

    Raises:
        ValueError: ``tree`` has no leaf (an empty container).
    """
    node = tree
    while isinstance(node, Mapping | list | tuple):
        if not node:
            raise ValueError(f"Expected a nested structure with at least one array; received {tree!r}.")
        node = next(iter(node.values())) if isinstance(node, Mapping) else node[0]
    return node
