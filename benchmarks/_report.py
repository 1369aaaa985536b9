"""Markdown for a benchmark run: one table per group, then the targets' summary."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Row = dict[str, Any]


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _status(row: Row) -> str:
    if row.get("target") is None:
        return ""
    return f"{row['target']}: {'met' if row['met'] else '**missed**'}"


def _table(header: list[str], rows: Iterable[Row], cells: Callable[[Row], list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        if row.get("ratio") is None and row.get("note", "").startswith(("skipped", "error")):
            lines.append(f"| {row['backend']} | {row['name']} | {row['note']} |" + " |" * (len(header) - 3))
        else:
            lines.append("| " + " | ".join(cells(row)) + " |")
    return lines


def _context(row: Row) -> bool:
    """A context row: another way to run the reference, shown beside the target rows."""
    return row.get("note", "").startswith("context")


def _references(rows: Iterable[Row], key: Callable[[Row], str]) -> list[str]:
    seen: dict[str, str] = {}
    for row in rows:
        if row.get("reference_name") and not _context(row):
            seen.setdefault(key(row), row["reference_name"])
    return [f"- {k}: {v}" for k, v in seen.items()]


def forward(rows: list[Row]) -> list[str]:
    out = ["## Forward overhead", "",
           "Module call against the raw framework call of the same network (same weights), "
           "microseconds per call; ratio = module / reference (median of per-round ratios). "
           "Targets at batch 1: <= 1.10x compiled, <= 1.15x eager. Context rows (*italic*) "
           "are other ways to call the reference network, not the module.", ""]
    out += _table(
        ["backend", "phase", "variant", "batch", "module (us)", "reference (us)", "ratio", "target"],
        rows,
        lambda r: [r["backend"], r["name"],
                   f"*{r['variant']}*" if _context(r) else r["variant"],
                   str(r["batch"]), _num(r["ours"]), _num(r["reference"]), _num(r["ratio"], 3), _status(r)],
    )
    out += ["", "References:"] + _references(rows, lambda r: f"{r['backend']} {r['variant']}")
    return out


def state(rows: list[Row]) -> list[str]:
    notes = sorted({r["note"] for r in rows if r.get("note") and r.get("ratio") is not None
                    and not _context(r)})
    out = ["## State sync", "",
           "A ~10M-parameter DefaultPPORLModule (" + "; ".join(notes) + "), inference-only state. "
           "Reference: np.copyto of the same arrays into existing buffers (memcpy). "
           "Ratio = our bandwidth / memcpy bandwidth (higher is better). Target: >= 0.5x on torch and NumPy.", ""]
    out += _table(
        ["backend", "operation", "ours (ms)", "ours (GB/s)", "memcpy (ms)", "memcpy (GB/s)", "ratio", "target"],
        rows,
        lambda r: [r["backend"], r["name"] + (" *(context)*" if _context(r) else ""),
                   _num(r["ours"], 2), _num(r["extra"].get("ours_gb_s")), _num(r["reference"], 2),
                   _num(r["extra"].get("reference_gb_s")), _num(r["ratio"], 2), _status(r)],
    )
    return out


def checkpoint(rows: list[Row]) -> list[str]:
    notes = sorted({f"{r['backend']}: {r['note']}" for r in rows if r.get("ratio") is not None and not _context(r)})
    out = ["## Checkpoints", "",
           "The same ~10M-parameter module (full learner state), milliseconds; ratio = ours / the "
           "framework's own save or load of the same network. Target: <= 1.0x.", ""]
    out += _table(
        ["backend", "operation", "ours (ms)", "framework (ms)", "ratio", "target"],
        rows,
        lambda r: [r["backend"], r["name"] + (" *(context)*" if _context(r) else ""), _num(r["ours"]),
                   _num(r["reference"]), _num(r["ratio"], 2), _status(r)],
    )
    out += ["", "References:"] + _references(rows, lambda r: r["backend"])
    out += ["", "Notes:"] + [f"- {n}" for n in notes]
    return out


def imports(rows: list[Row]) -> list[str]:
    out = ["## Import cost", "",
           "Each import timed inside a fresh interpreter (median over rounds). Target: "
           "`import rlmodule_core` < 150 ms with no framework imported.", ""]
    out += _table(
        ["backend", "import", "ours (ms)", "reference", "reference (ms)", "ratio", "target"],
        rows,
        lambda r: [r["backend"], f"`{r['name']}`", _num(r["ours"], 0), f"`{r['reference_name']}`",
                   _num(r["reference"], 0), _num(r["ratio"], 2),
                   _status(r) + (f" ({r['note']})" if r.get("note") else "")],
    )
    return out


def train(rows: list[Row]) -> list[str]:
    out = ["## Training throughput", "",
           "PPO on CartPole-v1 (benchmarks/train_cartpole.py, 1 thread): environment steps per "
           "second of training, against the plain single-file PyTorch PPO; ratio = ours / "
           "reference (higher is better). Each run is its own process.", ""]
    out += _table(
        ["backend", "run", "steps/s", "reference steps/s", "ratio", "notes"],
        rows,
        lambda r: [r["backend"], r["name"], _num(r["ours"], 0), _num(r["reference"], 0),
                   _num(r["ratio"], 2), r.get("note", "")],
    )
    return out


def rllib(rows: list[Row]) -> list[str]:
    out = ["## Side by side with RLlib", "",
           "Ours (torch backend) and RLlib's DefaultPPOTorchRLModule in one process. Ratio = "
           "ours / RLlib for times (< 1: we are ahead) and ours / RLlib for bandwidths (> 1: "
           "we are ahead). Target: ahead on every figure.", ""]
    out += _table(
        ["backend", "figure", "batch", "ours", "RLlib", "unit", "ratio", "target"],
        rows,
        lambda r: [r["backend"], r["name"] + (" *(context)*" if _context(r) else ""),
                   "" if r["batch"] is None else str(r["batch"]),
                   _num(r["ours"], 2), _num(r["reference"], 2), r["unit"], _num(r["ratio"], 3), _status(r)],
    )
    return out


SECTIONS = {"forward": forward, "state": state, "checkpoint": checkpoint, "import": imports,
            "train": train, "rllib": rllib}


def summary(rows: list[Row]) -> list[str]:
    judged = [r for r in rows if r.get("target") is not None]
    missed = [r for r in judged if not r["met"]]
    out = ["## Targets", "", f"{len(judged) - len(missed)} of {len(judged)} targets met."]
    if missed:
        out += ["", "Missed:"]
        for r in missed:
            where = " ".join(str(x) for x in (r["backend"], r["name"], r.get("variant") or "",
                                              f"batch {r['batch']}" if r.get("batch") else "") if x)
            out.append(f"- {where}: {_num(r['ratio'], 3)} (target {r['target']})")
    return out


def markdown(header: list[str], rows: list[Row], groups: list[str]) -> str:
    lines = list(header)
    for group in groups:
        selected = [r for r in rows if r["group"] == group]
        if selected:
            lines += [""] + SECTIONS[group](selected)
    lines += [""] + summary(rows)
    return "\n".join(lines) + "\n"
