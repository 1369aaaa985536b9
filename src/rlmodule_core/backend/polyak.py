"""Argument checks every backend's ``update_target_network`` shares."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["check_polyak"]


def check_polyak(tau: float, main_keys: Iterable[str], target_keys: Iterable[str]) -> None:
    """Raises ValueError unless ``0 <= tau <= 1`` and main and target hold the same parameters.

    Example:
        >>> check_polyak(0.005, sources.keys(), targets.keys())
    """
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"Expected tau in [0, 1]; received {tau}.")
    main_keys, target_keys = set(main_keys), set(target_keys)
    if main_keys != target_keys:
        raise ValueError(
            "update_target_network: main and target have different parameters "
            f"({sorted(main_keys ^ target_keys)[:5]}). Pass a target made by "
            "make_target_network(main)."
        )
