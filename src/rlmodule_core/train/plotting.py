"""The learning-curve PNG of a training run (matplotlib, imported only when plotting)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

__all__ = ["plot_learning_curve"]


def plot_learning_curve(
    rows: Sequence[dict[str, Any]], evaluations: Sequence[dict[str, Any]], path: str | os.PathLike,
    *, title: str, solved_at: float | None = None,
) -> bool:
    """Writes training return (per iteration) and evaluation return against env steps.

    Returns False (and writes nothing) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    train = [(r["env_steps"], r["episode_return_mean"]) for r in rows if not math.isnan(r.get("episode_return_mean", math.nan))]
    if train:
        ax.plot(*zip(*train), label="training return (mean of last 100 episodes)", color="tab:blue", lw=1.5)
    if evaluations:
        steps = [e["env_steps"] for e in evaluations]
        means = [e["eval_return_mean"] for e in evaluations]
        stds = [e["eval_return_std"] for e in evaluations]
        ax.errorbar(steps, means, yerr=stds, fmt="o-", ms=4, lw=1, capsize=2, color="tab:orange",
                    label="evaluation return (greedy, mean ± std)")
    if solved_at is not None:
        ax.axhline(solved_at, ls="--", color="gray", lw=1, label=f"solved ({solved_at:g})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
