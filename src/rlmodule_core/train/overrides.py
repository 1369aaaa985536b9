"""Command-line settings: ``--set KEY=VALUE`` overrides and ``--env-config`` JSON.

``--set`` takes dotted keys into the algorithm config (``lr=1e-3``,
``model.use_lstm=true``, ``model.fcnet_hiddens=[32, 32]``); values are TOML scalars or
lists, and a bare word (``relu``) is read as a string.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["apply_overrides", "parse_env_config", "parse_overrides"]

_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _parse_value(key: str, raw: str) -> Any:
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError as err:
        if _BARE_WORD.fullmatch(raw):
            return raw
        raise ValueError(
            f"--set {key}={raw}: cannot read {raw!r} as a TOML value ({err}). Expected a number, "
            "true/false, a quoted string or a list such as [64, 64]."
        ) from None


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["lr=0.001", "model.use_lstm=true"]`` -> ``{"lr": 0.001, "model": {"use_lstm": True}}``.

    Raises:
        ValueError: an item without ``=``, an empty key part, an unreadable value, or one
            key set twice.

    Example:
        >>> parse_overrides(["model.fcnet_hiddens=[32, 32]", "gamma=0.95"])
        {'model': {'fcnet_hiddens': [32, 32]}, 'gamma': 0.95}
    """
    result: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        parts = key.split(".")
        if not sep or not all(parts):
            raise ValueError(
                f"Expected --set KEY=VALUE with a dotted KEY such as model.use_lstm=true; received {item!r}."
            )
        value = _parse_value(key, raw)
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"--set sets {'.'.join(parts[: depth + 1])!r} and also a key inside it ({key!r}).")
            node = child
        if parts[-1] in node:
            raise ValueError(f"--set sets {key!r} more than once; pass each key once.")
        node[parts[-1]] = value
    return result


def apply_overrides(values: Mapping[str, Any], overrides: Mapping[str, Any], *, path: str = "") -> dict[str, Any]:
    """``values`` with ``overrides`` merged in: nested tables are merged, anything else replaced.

    A dotted key into a value that is not a table (``lr.x=1``) is an error; unknown
    top-level keys are left for the config class to reject.

    Example:
        >>> apply_overrides({"lr": 1.0, "model": {"a": 1}}, {"model": {"b": 2}})
        {'lr': 1.0, 'model': {'a': 1, 'b': 2}}
    """
    merged = dict(values)
    for key, value in overrides.items():
        name = f"{path}{key}"
        if isinstance(value, dict):
            current = merged.get(key)
            if current is None:
                current = {}
            elif not isinstance(current, Mapping):
                raise ValueError(
                    f"Cannot set keys inside {name!r}: it is {type(current).__name__} {current!r}, not a table. "
                    f"Set it whole, e.g. --set {name}=VALUE."
                )
            merged[key] = apply_overrides(current, value, path=f"{name}.")
        else:
            merged[key] = value
    return merged


def parse_env_config(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """``--env-config`` (a JSON object, or a mapping) -> constructor kwargs of the env.

    Raises:
        ValueError: not JSON, or not an object with string keys.

    Example:
        >>> parse_env_config('{"max_episode_steps": 200}')
        {'max_episode_steps': 200}
    """
    if text is None:
        return {}
    if isinstance(text, Mapping):
        value: Any = dict(text)
    else:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"--env-config expects a JSON object such as '{{\"max_episode_steps\": 200}}'; "
                f"received {text!r} ({err})."
            ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"--env-config expects a JSON object (keyword arguments of the env); received {type(value).__name__} "
            f"{value!r}."
        )
    return value
