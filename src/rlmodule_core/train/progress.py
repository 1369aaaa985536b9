"""A dependency-free progress bar for long runs (redraws in place on a terminal)."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

__all__ = ["Progress"]


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """``[#####.....]  45%  22,528/50,000 steps | 1,234 steps/s | return 123.4 | eta 0:00:22``.

    On a terminal the line is redrawn in place; otherwise (logs, CI) a line is printed
    at most every ``log_every_s`` seconds.

    Example:
        >>> bar = Progress(total=50_000, unit="steps")
        >>> bar.update(2_048, info={"return": 21.5})
        >>> bar.close()
    """

    def __init__(self, total: int, *, unit: str = "steps", stream: IO[str] | None = None,
                 width: int = 24, log_every_s: float = 10.0, initial: int = 0) -> None:
        self.total, self.unit, self.width = max(int(total), 1), unit, width
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.log_every_s = log_every_s
        self.start = time.perf_counter()
        self.initial = self.count = initial
        self._last_log = -float("inf")

    def update(self, count: int, info: dict[str, Any] | None = None) -> None:
        """Sets the absolute progress to ``count`` and redraws."""
        self.count = min(int(count), self.total)
        now = time.perf_counter()
        if not self.tty and now - self._last_log < self.log_every_s and self.count < self.total:
            return
        self._last_log = now
        line = self.render(info)
        self.stream.write(("\r" + line + "\033[K") if self.tty else line + "\n")
        self.stream.flush()

    def render(self, info: dict[str, Any] | None = None, *, done: bool = False) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = (self.count - self.initial) / elapsed
        fraction = self.count / self.total
        filled = int(round(fraction * self.width))
        parts = [
            f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%}",
            f"{self.count:,}/{self.total:,} {self.unit}",
            f"{rate:,.0f} {self.unit}/s",
        ]
        for key, value in (info or {}).items():
            parts.append(f"{key} {value:.1f}" if isinstance(value, float) else f"{key} {value}")
        eta = (self.total - self.count) / rate if rate > 0 else 0.0
        parts.append(f"took {_clock(elapsed)}" if done or self.count >= self.total else f"eta {_clock(eta)}")
        return " | ".join(parts)

    def close(self, info: dict[str, Any] | None = None) -> None:
        """Draws the final state (also when the run stopped before ``total``)."""
        line = self.render(info, done=True)
        self.stream.write(("\r" + line + "\033[K\n") if self.tty else line + "\n")
        self.stream.flush()
