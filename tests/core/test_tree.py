"""rlmodule_core.backend.tree: the one walker for nested batches."""

from __future__ import annotations

from collections import OrderedDict, defaultdict, namedtuple
from types import MappingProxyType

import numpy as np
import pytest

from rlmodule_core.backend import tree

Pair = namedtuple("Pair", ["a", "b"])


def _to32(x):
    return x.astype(np.float32) if isinstance(x, np.ndarray) and x.dtype == np.float64 else x


def test_unchanged_structures_come_back_as_the_same_objects():
    x = np.zeros(2, np.float32)
    batch = {"obs": {"p": Pair(x, [x, (x,)]), "t": (x,)}, "n": None, "s": "text"}
    assert tree.map_leaves(_to32, batch) is batch
    flat = {"obs": x}
    assert tree.map_leaves(lambda leaf: pytest.fail("a kept leaf reached fn"), flat, keep=np.ndarray) is flat


def test_changed_leaves_rebuild_only_their_path_with_the_same_container_types():
    x32, x64 = np.zeros(2, np.float32), np.zeros(3)
    untouched = (x32,)
    batch = {"p": Pair(x32, [x64, untouched]), "t": untouched}
    out = tree.map_leaves(_to32, batch)
    assert out is not batch and type(out) is dict and list(out) == ["p", "t"]
    assert type(out["p"]) is Pair and type(out["p"].b) is list
    assert out["p"].a is x32 and out["p"].b[1] is untouched and out["t"] is untouched
    assert out["p"].b[0].dtype == np.float32
    assert batch["p"].b[0] is x64  # the input is not modified


def test_mapping_types_are_kept_or_become_dicts_when_read_only():
    x64 = np.zeros(1)
    ordered = OrderedDict([("b", x64), ("a", 1)])
    assert type(tree.map_leaves(_to32, ordered)) is OrderedDict
    default = defaultdict(list, {"a": x64})
    out = tree.map_leaves(_to32, default)
    assert type(out) is defaultdict and out.default_factory is list and out["a"].dtype == np.float32
    assert type(tree.map_leaves(_to32, MappingProxyType({"a": x64}))) is dict


def test_map_structures_stacks_steps_and_names_a_mismatch():
    steps = [{"o": Pair(np.full(2, i), [np.full(1, i)])} for i in range(3)]
    def stack(*xs):
        return np.stack(xs)

    out = tree.map_structures(stack, steps)
    assert type(out["o"]) is Pair and type(out["o"].b) is list
    np.testing.assert_array_equal(out["o"].a[:, 0], [0, 1, 2])
    with pytest.raises(ValueError, match=r"\['o'\]\.b|\['o'\]\[1\]"):
        tree.map_structures(stack, [steps[0], {"o": Pair(np.zeros(2), [])}])
    with pytest.raises(ValueError, match="keys"):
        tree.map_structures(stack, [steps[0], {"x": 1}])


def test_leaves_and_first_leaf_follow_insertion_order():
    assert tree.leaves({"b": 1, "a": (2, [3, Pair(4, 5)])}) == [1, 2, 3, 4, 5]
    assert tree.first_leaf({"b": [7], "a": 1}) == 7
    with pytest.raises(ValueError, match="at least one array"):
        tree.first_leaf({"a": []})
