"""A run's metrics as they happen: ``metrics.csv`` (appended and flushed per row),
``metrics.json`` (rewritten atomically at each evaluation and at the end) and, with
``--tensorboard``, TensorBoard event files under ``OUT/tensorboard`` with the same scalars.

A run killed at any moment leaves every finished iteration in ``metrics.csv``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import IO, Any

__all__ = ["RunLog", "check_tensorboard"]

#: Columns that lead every metrics.csv row (the rest follow in sorted order).
LEAD_COLUMNS = ("kind", "iteration", "env_steps", "wall_time_s")


def check_tensorboard() -> None:
    """Raises ImportError, saying how to install it, when TensorBoard cannot be written."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ImportError(
            "--tensorboard writes TensorBoard event files and needs the tensorboard package: "
            'pip install tensorboard (or "rlmodule-core[tensorboard]"), or drop --tensorboard.'
        ) from None


class _TensorBoard:
    """Scalars as TensorBoard events, written with the ``tensorboard`` package only (no TF)."""

    def __init__(self, logdir: Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        logdir.mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(logdir))

    def scalars(self, prefix: str, values: dict[str, Any], step: int, wall_time: float) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        items = [
            Summary.Value(tag=f"{prefix}/{key}", simple_value=float(value))
            for key, value in values.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
            and key not in ("env_steps", "iteration", "wall_time_s")
        ]
        if items:
            self._writer.add_event(Event(wall_time=wall_time, step=step, summary=Summary(value=items)))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class RunLog:
    """Iteration rows and evaluation records, in memory and on disk as they arrive.

    ``metrics.csv`` has one row per iteration (``kind=iteration``) and per evaluation
    (``kind=evaluation``); a row with a column the header lacks rewrites the file
    atomically with the wider header (DQN's loss columns appear once learning starts).

    Example:
        >>> log = RunLog(Path("runs/x"))
        >>> log.add_iteration({"iteration": 1, "env_steps": 512, "episode_return_mean": 21.0})
        >>> log.write_json({"status": "running"})
        >>> log.close()
    """

    def __init__(self, out: Path, *, tensorboard: bool = False, start_wall_time: float = 0.0) -> None:
        self.out = out
        self.rows: list[dict[str, Any]] = []
        self.evaluations: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        path = out / "metrics.json"
        if path.is_file():  # resuming: continue the recorded history
            data = json.loads(path.read_text())
            self.rows, self.evaluations, self.summary = data["iterations"], data["evaluations"], data["summary"]
        self._fields: list[str] = []
        self._file: IO[str] | None = None
        self._csv: csv.DictWriter | None = None
        self._rewrite_csv()
        self._tb = _TensorBoard(out / "tensorboard") if tensorboard else None
        self._wall0 = start_wall_time

    # ---- rows -----------------------------------------------------------------------------
    def _csv_rows(self) -> list[dict[str, Any]]:
        rows = [{"kind": "iteration", **r} for r in self.rows] + [{"kind": "evaluation", **e} for e in self.evaluations]
        return sorted(rows, key=lambda r: (r.get("wall_time_s", 0.0), r["kind"] != "iteration"))

    def _rewrite_csv(self, extra: dict[str, Any] | None = None) -> None:
        rows = self._csv_rows()
        keys = {k for row in [*rows, *([extra] if extra else [])] for k in row}
        self._fields = [*(c for c in LEAD_COLUMNS if c in keys or c == "kind"), *sorted(keys - set(LEAD_COLUMNS))]
        if self._file is not None:
            self._file.close()
        tmp = self.out / "metrics.csv.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._fields)
            writer.writeheader()
            writer.writerows(_plain(r) for r in rows)
        os.replace(tmp, self.out / "metrics.csv")
        self._file = open(self.out / "metrics.csv", "a", newline="")  # noqa: SIM115 - kept open for appends
        self._csv = csv.DictWriter(self._file, fieldnames=self._fields)

    def _append(self, row: dict[str, Any]) -> None:
        if set(row) - set(self._fields):
            self._rewrite_csv()  # the new row is already in memory, so the rewrite includes it
        else:
            self._csv.writerow(_plain(row))
        self._file.flush()

    def add_iteration(self, row: dict[str, Any]) -> None:
        """Records one iteration's metrics (appended to metrics.csv and flushed)."""
        self.rows.append(row)
        self._append({"kind": "iteration", **row})
        if self._tb is not None:
            self._tb.scalars("train", row, int(row["env_steps"]), self._wall0 + row.get("wall_time_s", 0.0))

    def add_evaluation(self, record: dict[str, Any]) -> None:
        """Records one evaluation (appended to metrics.csv and flushed)."""
        self.evaluations.append(record)
        self._append({"kind": "evaluation", **record})
        if self._tb is not None:
            self._tb.scalars("eval", record, int(record["env_steps"]), self._wall0 + record.get("wall_time_s", 0.0))

    def write_json(self, summary: dict[str, Any]) -> None:
        """Rewrites metrics.json (summary, iterations, evaluations) atomically."""
        self.summary = summary
        payload = {"summary": summary, "iterations": self.rows, "evaluations": self.evaluations}
        tmp = self.out / "metrics.json.tmp"
        tmp.write_text(json.dumps(payload, indent=2, default=float))
        os.replace(tmp, self.out / "metrics.json")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """CSV cells: nested values (e.g. a confirmation record) as JSON."""
    return {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
