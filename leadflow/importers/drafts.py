"""Rows in, events out: what both CRMs share.

A converter turns rows into drafts (an event before it has an id and wire form)
and tells the report about every row it skips, every value nobody mapped and
every convention it applied. `finish` gives the drafts their ids and their
final times and writes them in a stable order, so the same exports always give
the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

import orjson

from events import EventType
from leadflow.importers.cells import norm_key
from leadflow.importers.timestamps import Stamp, rfc3339, utc_key

EXAMPLES = 3  # file:line examples kept per unmapped value


class RowError(ValueError):
    """Why a row is skipped; raised while reading it, reported with its file and line."""


@dataclass(frozen=True, slots=True)
class Row:
    """One CSV record: where it came from and its cells by comparable header."""

    file: str
    line: int
    cells: Mapping[str, str]
    problem: str | None = None  # set when the CSV record itself is malformed

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def get(self, aliases: Iterable[str]) -> str:
        """The first of the column's spellings present in this row, stripped; '' if none."""
        return self.find(aliases)[1]

    def find(self, aliases: Iterable[str]) -> tuple[str, str]:
        """(comparable header, stripped value) of the first spelling present; ('', '')."""
        for alias in aliases:
            value = self.cells.get(alias)
            if value is not None:
                return alias, value.strip()
        return "", ""


def find_column(headers: Iterable[str], aliases: Iterable[str]) -> str | None:
    """The comparable header a column is exported under, if the file has it."""
    present = {norm_key(header) for header in headers}
    return next((alias for alias in aliases if alias in present), None)


@dataclass
class Unmapped:
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class Report:
    """What an import did, for the summary; nothing is dropped without a line here."""

    rows: Counter[str] = field(default_factory=Counter)  # rows read per export kind
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file:line, reason)
    unmapped: dict[tuple[str, str, str], Unmapped] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)

    def skip(self, row: Row, reason: str) -> None:
        self.skipped.append((row.where, reason))

    def unknown(self, what: str, value: str, row: Row, outcome: str) -> None:
        """A CRM value the mapping lacks; `outcome` says what was done instead."""
        entry = self.unmapped.setdefault((what, value, outcome), Unmapped())
        entry.count += 1
        if len(entry.examples) < EXAMPLES and row.where not in entry.examples:
            entry.examples.append(row.where)

    def note(self, message: str, count: int = 1) -> None:
        self.notes[message] += count


# Funnel order, for placing a bare date after the same record's earlier stages.
ORDER = {
    EventType.LEAD_CREATED: 0,
    EventType.LEAD_SCORED: 0,
    EventType.LEAD_MQL: 1,
    EventType.LEAD_CONTACTED: 2,
    EventType.LEAD_SQL: 3,
    EventType.OPPORTUNITY_CREATED: 4,
    EventType.OPPORTUNITY_STAGE_CHANGED: 5,
    EventType.LEAD_REJECTED: 6,
    EventType.DEAL_WON: 6,
    EventType.DEAL_LOST: 6,
}


@dataclass(slots=True)
class Draft:
    """An event before finishing: `record` is the CRM record it was read from."""

    lead_id: str
    type: EventType
    at: Stamp
    record: str
    fields: dict[str, Any] = field(default_factory=dict)

    def event_id(self, at: datetime) -> str:
        # Record + type (+ stage) + instant: the same export row always yields the same
        # id, so importing it again, or in an overlapping export, changes nothing.
        stage = self.fields.get("stage")
        middle = f"{self.type}:{stage}" if stage else str(self.type)
        return f"{self.record}:{middle}:{utc_key(at)}"


def place_bare_dates(drafts: list[Draft]) -> None:
    """Give each date-only draft its time of day: the start of that local day, or the
    latest earlier-stage moment of the same lead on that day, whichever is later.

    A Salesforce CloseDate or ConvertedDate has no time; read as midnight it would
    come before the same day's creation and reverse the lead's stages.
    """
    bare = {draft.lead_id for draft in drafts if draft.at.date_only}
    by_lead: dict[str, list[Draft]] = {}
    for draft in drafts:
        if draft.lead_id in bare:
            by_lead.setdefault(draft.lead_id, []).append(draft)
    for lead_drafts in by_lead.values():
        lead_drafts.sort(key=lambda d: (ORDER[d.type], d.at.date_only, d.at.at))
        for index, draft in enumerate(lead_drafts):
            if not draft.at.date_only:
                continue
            day = draft.at.day
            floor = datetime.combine(day, time(), draft.at.at.tzinfo)
            earlier = [
                d.at.at
                for d in lead_drafts[:index]
                if ORDER[d.type] < ORDER[draft.type] and d.at.at.date() == day
            ]
            draft.at = Stamp(max([floor, *earlier]), date_only=False)


def finish(drafts: list[Draft]) -> list[bytes]:
    """Wire JSON lines: ids given, duplicates merged (the later draft wins), time order."""
    place_bare_dates(drafts)
    events: dict[str, tuple[float, str, bytes]] = {}
    for draft in drafts:
        at = draft.at.at
        event_id = draft.event_id(at)
        document = {
            "event_id": event_id,
            "type": str(draft.type),
            "lead_id": draft.lead_id,
            "occurred_at": rfc3339(at),
            **{key: value for key, value in draft.fields.items() if value is not None},
        }
        events[event_id] = (at.timestamp(), event_id, orjson.dumps(document))
    return [line for _, _, line in sorted(events.values())]
