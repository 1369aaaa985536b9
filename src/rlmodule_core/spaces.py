"""JSON form of gymnasium spaces, so checkpoints can record a module's spaces as plain text.

Each space is a dict with a ``"type"`` key and the fields that rebuild it::

    {"type": "Box", "shape": [2], "dtype": "float32", "low": -1.0, "high": [1.0, "inf"]}
    {"type": "Discrete", "n": 5, "start": 0, "dtype": "int64"}
    {"type": "MultiDiscrete", "nvec": [[2, 3]], "start": [[0, 0]], "dtype": "int64"}
    {"type": "MultiBinary", "n": 4}          # or "n": [2, 3]
    {"type": "Tuple", "spaces": [...]}
    {"type": "Dict", "spaces": {"obs": {...}, ...}}   # key order is kept

Box bounds are one number when every element is equal, else a nested list; infinite
bounds are the strings ``"inf"`` / ``"-inf"`` so the result is strict JSON. Numbers are
Python ints and floats, which JSON round-trips exactly. The seed of a space is not stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["space_from_json", "space_to_json"]

_SUPPORTED = "Box, Discrete, MultiDiscrete, MultiBinary, Tuple, Dict"

# Fields a reader must find; optional ones fall back to gymnasium's defaults.
_REQUIRED_FIELDS = {
    "Box": ("shape", "dtype", "low", "high"),
    "Discrete": ("n",),
    "MultiDiscrete": ("nvec",),
    "MultiBinary": ("n",),
    "Tuple": ("spaces",),
    "Dict": ("spaces",),
}


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """Describes a gymnasium space as a strict-JSON-able dict.

    Args:
        space: A Box, Discrete, MultiDiscrete, MultiBinary, Tuple or Dict space,
            nested to any depth.

    Returns:
        A dict that ``json.dumps(d, allow_nan=False)`` accepts and that
        ``space_from_json`` turns back into an equal space.

    Raises:
        ValueError: If ``space`` is not a gymnasium space, or is (or contains) a
            space type without a JSON form, such as Text.

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box
        >>> space_to_json(Box(-1.0, np.inf, shape=(2,), dtype=np.float32))
        {'type': 'Box', 'shape': [2], 'dtype': 'float32', 'low': -1.0, 'high': 'inf'}
    """
    return _encode(space, "")


def space_from_json(d: Mapping[str, Any]) -> spaces.Space:
    """Rebuilds a gymnasium space from the dict made by ``space_to_json``.

    Args:
        d: The JSON form of a space (for example as returned by ``json.loads``).

    Returns:
        The space, with the same type, dtype, shape, bounds and start as the
        one that was written.

    Raises:
        ValueError: If ``d`` is malformed; the message names the problem and
            where in ``d`` it is (for example ``spaces["obs"].spaces[1]``).

    Example:
        >>> space_from_json({"type": "Discrete", "n": 3, "start": 1})
        Discrete(3, start=1)
    """
    return _decode(d, "")


class _FormatError(ValueError):
    """A malformed-input error that already names its path (so it is not wrapped again)."""


# --------------------------------------------------------------------------- writing


def _encode(space: Any, path: str) -> dict[str, Any]:
    if not isinstance(space, spaces.Space):
        raise ValueError(
            f"Expected a gymnasium.spaces.Space{' at ' + path if path else ''}; received "
            f"{type(space)} ({space!r}). Fix: pass a space such as gymnasium.spaces.Box(...) "
            "or gymnasium.spaces.Discrete(...)."
        )
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": space.dtype.name,
            "low": _encode_bound(space.low, space.bounded_below, "-inf", path),
            "high": _encode_bound(space.high, space.bounded_above, "inf", path),
        }
    if isinstance(space, spaces.Discrete):
        return {
            "type": "Discrete",
            "n": int(space.n),
            "start": int(space.start),
            "dtype": space.dtype.name,
        }
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": space.start.tolist(),
            "dtype": space.dtype.name,
        }
    if isinstance(space, spaces.MultiBinary):
        # Keep int vs. sequence: gymnasium compares ``n`` as given, so 3 != (3,).
        n = space.n if isinstance(space.n, int) else [int(k) for k in space.n]
        return {"type": "MultiBinary", "n": n}
    if isinstance(space, spaces.Tuple):
        return {
            "type": "Tuple",
            "spaces": [_encode(s, _child(path, i)) for i, s in enumerate(space.spaces)],
        }
    if isinstance(space, spaces.Dict):
        for key in space.spaces:
            if not isinstance(key, str):
                # json.dumps would silently turn 1 into "1" and break the round trip.
                raise ValueError(
                    f"Expected string keys in the Dict space at {_where(path)}; received key "
                    f"{key!r} of {type(key)}. Fix: rename the key to a string."
                )
        return {
            "type": "Dict",
            "spaces": {k: _encode(s, _child(path, k)) for k, s in space.spaces.items()},
        }
    raise ValueError(
        f"Cannot write the space at {_where(path)} as JSON: received "
        f"{type(space).__name__} ({space!r}). Expected one of {_SUPPORTED}. "
        "Convert it to a Box or Discrete space (for example with a gymnasium observation "
        "or action wrapper) before building the module."
    )


def _encode_bound(values: np.ndarray, bounded: np.ndarray, inf: str, path: str) -> Any:
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise ValueError(
            f"Expected Box bounds without NaN at {_where(path)}; received {values!r}. "
            "Fix: use a finite value or +/-inf."
        )
    # Use ``bounded`` rather than the value: gymnasium stores an infinite bound of an int
    # Box as the dtype's limit, and only this mask remembers it was unbounded.
    pairs = zip(values.ravel().tolist(), bounded.ravel().tolist(), strict=True)
    flat = [v if b else inf for v, b in pairs]
    # repr tells -0.0 from 0.0, so a compacted bound is bit-exact.
    if flat and len({repr(v) for v in flat}) == 1:
        return flat[0]
    return np.array(flat, dtype=object).reshape(values.shape).tolist()


# --------------------------------------------------------------------------- reading


def _decode(d: Any, path: str) -> spaces.Space:
    if not isinstance(d, Mapping):
        raise _FormatError(
            f'Expected a dict like {{"type": "Box", ...}} at {_where(path)}; received '
            f"{type(d).__name__} ({d!r}). Fix: pass the dict made by space_to_json."
        )
    if "type" not in d:
        raise _FormatError(
            f'Missing "type" at {_where(path)}: expected one of {_SUPPORTED}; received '
            f"keys {sorted(map(str, d))}. Fix: pass the dict made by space_to_json."
        )
    kind = d["type"]
    if not isinstance(kind, str) or kind not in _REQUIRED_FIELDS:
        raise _FormatError(
            f"Unknown space type {kind!r} at {_where(path)}: expected one of {_SUPPORTED}. "
            'Fix: correct the "type" field.'
        )
    missing = [f for f in _REQUIRED_FIELDS[kind] if f not in d]
    if missing:
        raise _FormatError(
            f"{kind} at {_where(path)} is missing field(s) {missing}: expected "
            f"{list(_REQUIRED_FIELDS[kind])}; received keys {sorted(map(str, d))}."
        )

    if kind == "Tuple":
        children = _typed(d["spaces"], list, "a list", "spaces", path)
        return spaces.Tuple([_decode(s, _child(path, i)) for i, s in enumerate(children)])
    if kind == "Dict":
        children = _typed(d["spaces"], Mapping, "a dict", "spaces", path)
        # A list of pairs, because gymnasium sorts the keys of a plain dict.
        return spaces.Dict([(k, _decode(s, _child(path, k))) for k, s in children.items()])

    # Leaf spaces: gymnasium validates the values; its complaints get our path added.
    try:
        if kind == "Box":
            return _decode_box(d, path)
        if kind == "Discrete":
            return spaces.Discrete(
                _typed(d["n"], int, "an int", "n", path),
                start=_typed(d.get("start", 0), int, "an int", "start", path),
                dtype=_typed(d.get("dtype", "int64"), str, "a dtype name", "dtype", path),
            )
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(
                d["nvec"],
                dtype=_typed(d.get("dtype", "int64"), str, "a dtype name", "dtype", path),
                start=d.get("start"),
            )
        return spaces.MultiBinary(_typed(d["n"], (int, list), "an int or list", "n", path))
    except _FormatError:
        raise
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"Invalid {kind} at {_where(path)}: {e}. Received {dict(d)!r}.") from e


def _decode_box(d: Mapping[str, Any], path: str) -> spaces.Box:
    shape = tuple(_typed(d["shape"], list, "a list of ints", "shape", path))
    dtype = np.dtype(_typed(d["dtype"], str, "a dtype name", "dtype", path))
    low, low_inf = _decode_bound(d["low"], shape, dtype, "low", path)
    high, high_inf = _decode_bound(d["high"], shape, dtype, "high", path)
    box = spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
    if dtype.kind == "i":
        # An int array cannot hold inf, so low/high carry the dtype limits; restore the
        # masks gymnasium sets when given -inf / inf (sampling and is_bounded read them).
        box.bounded_below = ~low_inf
        box.bounded_above = ~high_inf
    return box


def _decode_bound(
    raw: Any, shape: tuple[int, ...], dtype: np.dtype, name: str, path: str
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the bound as an array of ``dtype`` and the mask of its infinite elements."""
    # dtype=object keeps large ints exact; a float64 detour would round int64 limits.
    values = np.array(_parse_numbers(raw, name, path), dtype=object)
    if values.ndim == 0:
        values = np.full(shape, values.item(), dtype=object)
    elif values.size == 0 and math.prod(shape) == 0:
        values = values.reshape(shape)  # [] cannot spell an empty shape such as (0, 3)
    elif values.shape != shape:
        raise _FormatError(
            f"Invalid Box at {_where(path)}: expected {name} to be one number or a nested "
            f"list of shape {list(shape)}; received shape {list(values.shape)}."
        )
    infinite = np.array(
        [isinstance(v, float) and math.isinf(v) for v in values.ravel()], dtype=bool
    ).reshape(shape)
    if infinite.any() and dtype.kind != "f":
        if dtype.kind != "i":
            raise _FormatError(
                f"Invalid Box at {_where(path)}: {dtype.name} cannot be unbounded, but {name} "
                "holds an infinite value. Fix: use a finite bound or a signed dtype."
            )
        limits = np.iinfo(dtype)
        values[infinite] = [limits.min if v < 0 else limits.max for v in values[infinite]]
    return values.astype(dtype), infinite


def _parse_numbers(raw: Any, name: str, path: str) -> Any:
    """Turns ``"inf"`` / ``"-inf"`` back into floats and rejects anything not a number."""
    if isinstance(raw, list):
        return [_parse_numbers(v, name, path) for v in raw]
    if raw == "inf":
        return math.inf
    if raw == "-inf":
        return -math.inf
    if isinstance(raw, float) and math.isnan(raw):
        raise _FormatError(
            f"Invalid Box at {_where(path)}: {name} holds NaN. Fix: use a finite value, "
            '"inf" or "-inf".'
        )
    if isinstance(raw, int | float):
        return raw
    raise _FormatError(
        f'Invalid Box at {_where(path)}: expected {name} to hold numbers, "inf" or "-inf"; '
        f"received {raw!r}."
    )


# --------------------------------------------------------------------------- paths


def _typed(value: Any, types: Any, expected: str, name: str, path: str) -> Any:
    # bool is an int subclass, but True is never a count, shape or start.
    if isinstance(value, bool) or not isinstance(value, types):
        raise _FormatError(
            f"Invalid field at {_where(path)}: expected {name} to be {expected}; received "
            f"{type(value).__name__} ({value!r})."
        )
    return value


def _child(path: str, key: int | str) -> str:
    step = f"spaces[{json.dumps(key) if isinstance(key, str) else key}]"
    return f"{path}.{step}" if path else step


def _where(path: str) -> str:
    return path or "the top level"
