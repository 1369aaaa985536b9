"""The batch walker (``rlmodule_core.backend.tree``) against ``optree``.

What a backend's batch converter does on every forward call: walk the batch, convert
the leaves that need it (float64 arrays to float32 here; the framework's tensors are
kept as they are) and return the batch itself when nothing changed. Variants:

- ``own``: ``tree.map_leaves(convert, batch, keep=...)`` (what the backends use);
- ``optree``: ``optree.tree_flatten``, convert, ``tree_unflatten`` only when a leaf
  changed (the same identity-preserving contract on top of optree);
- ``optree.tree_map``: optree's one-call map (always rebuilds every container).

Figures are per-call microseconds (median over interleaved rounds) and the ratio of
each variant to ``own`` measured in the same round.

Usage:
    python benchmarks/tree_map.py [--rounds 30] [--calls 2000]
"""

from __future__ import annotations

import argparse
from collections import namedtuple
from typing import Any

import numpy as np
import optree
from _common import interleaved

from rlmodule_core.backend import tree

Pair = namedtuple("Pair", ["position", "velocity"])


def _convert(x: Any) -> Any:
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return x.astype(np.float32)
    return x


def _optree(batch: Any) -> Any:
    leaves, spec = optree.tree_flatten(batch, none_is_leaf=True)
    new = [x if type(x) is np.ndarray and x.dtype != np.float64 else _convert(x) for x in leaves]
    for a, b in zip(new, leaves):
        if a is not b:
            return optree.tree_unflatten(spec, new)
    return batch


def _optree_map(batch: Any) -> Any:
    return optree.tree_map(_convert, batch, none_is_leaf=True)


def _own(batch: Any) -> Any:
    # keep=float32 arrays is not expressible as a type; the converter returns them as is.
    return tree.map_leaves(_convert, batch)


class _Tensor(np.ndarray):
    """Stands in for a framework tensor type: a leaf type the converter keeps."""


def _own_keep(batch: Any) -> Any:
    return tree.map_leaves(_convert, batch, keep=_Tensor)


def cases() -> dict[str, Any]:
    f32 = np.zeros((1, 4), np.float32)
    f64 = np.zeros((1, 4), np.float64)
    tensor = f32.view(_Tensor)
    return {
        "flat dict of tensors (kept)": {"obs": tensor},
        "flat dict, 4 tensors (kept)": {"obs": tensor, "a": tensor, "b": tensor, "c": tensor},
        "flat dict of float32 arrays": {"obs": f32},
        "flat dict of float64 (converted)": {"obs": f64},
        "nested dict/tuple/namedtuple (kept)": {"obs": {"pos": (f32, [f32]), "pair": Pair(f32, f32)}},
        "nested, one float64 (converted)": {"obs": {"pos": (f32, [f64]), "pair": Pair(f32, f32)}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    print(f"optree {optree.__version__}; {args.rounds} rounds x {args.calls} calls\n")
    print("| batch | own (us) | own, keep=tensor (us) | optree flatten (us) | optree.tree_map (us) | optree / own |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, batch in cases().items():
        t = interleaved(
            {
                "own": lambda b=batch: _own(b),
                "keep": lambda b=batch: _own_keep(b),
                "optree": lambda b=batch: _optree(b),
                "tree_map": lambda b=batch: _optree_map(b),
            },
            rounds=args.rounds,
            calls=args.calls,
        )
        us = {k: t.median(k) * 1e6 for k in ("own", "keep", "optree", "tree_map")}
        print(
            f"| {name} | {us['own']:.2f} | {us['keep']:.2f} | {us['optree']:.2f} | "
            f"{us['tree_map']:.2f} | {t.ratio('optree', 'own'):.2f}x |"
        )


if __name__ == "__main__":
    main()
