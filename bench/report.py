"""Rows of the results table, targets, and the Markdown/JSON renderings."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    """One line of the table. `met` is None when there is no target or no value."""

    measure: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""
    key: str = ""  # stable id for the JSON (and for diffing runs)

    @classmethod
    def checked(
        cls,
        key: str,
        measure: str,
        value: float | None,
        unit: str,
        target: str,
        test: Callable[[float], bool],
        note: str = "",
    ) -> Row:
        met = None if value is None or math.isnan(value) else test(value)
        return cls(measure, value, unit, target, met, note, key)

    @classmethod
    def info(cls, key: str, measure: str, value: float | None, unit: str, note: str = "") -> Row:
        return cls(measure, value, unit, "", None, note, key)

    @classmethod
    def unavailable(cls, key: str, measure: str, unit: str, target: str, why: str) -> Row:
        return cls(measure, None, unit, target, None, why, key)


@dataclass
class Outcome:
    """What one measurement returns: its rows and everything worth keeping in the JSON."""

    name: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


def load_note(summary: dict[str, Any]) -> str:
    """ "other load N cores" when the shared machine was busy with someone else's work."""
    cores = summary.get("cpu_cores_first_to_last") or summary.get("cpu_cores_while_producing")
    other = (cores or {}).get("everything_else")
    notes = []
    if summary.get("rate_is_lower_bound"):
        notes.append("lower bound: timed from the last poll that saw nothing done")
    if other is not None and other >= 0.2:
        notes.append(f"other load {other:.1f} cores")
    return ", ".join(notes)


def fmt_value(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit in ("events/s", "leads/s", "events", "leads", "B", "KiB", "MiB"):
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value:.0f}"
    if unit in ("x", "ratio"):
        return f"{value:.2f}"
    if unit == "s":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if unit == "ms":
        return f"{value:.0f}"
    return f"{value:.3g}"


def met_mark(row: Row) -> str:
    if row.met is None:
        return "n/a" if row.target else ""
    return "yes" if row.met else "**no**"


def markdown(rows: Sequence[Row], header: str = "") -> str:
    lines = [header, ""] if header else []
    lines += ["| measure | value | unit | target | met? |", "|---|---:|---|---|---|"]
    for row in rows:
        value = fmt_value(row.value, row.unit)
        if row.value is None and row.note:
            value = row.note
        measure = row.measure
        if row.note and row.value is not None:
            measure += f" ({row.note})"
        lines.append(f"| {measure} | {value} | {row.unit} | {row.target} | {met_mark(row)} |")
    return "\n".join(lines) + "\n"


def row_dicts(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]
