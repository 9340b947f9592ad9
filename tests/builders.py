"""Small builders for hand-written examples: events as JSON lines, metrics as a dict.

Tests speak in RFC 3339 strings and label values; these helpers turn them into
the bytes producers send and read the exported families back as plain values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from events import Event, Rejection, Vocabulary, decode, to_micros
from leadflow.replay import replay_lines
from projections import Family, Funnel, History, Ledger, export

# The wall clock handed to the decoder: far after every example, so no
# example is rejected as coming from the future unless a test says so.
CLOCK = datetime(2030, 1, 1, tzinfo=UTC)

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def micros(text: str) -> int:
    """An RFC 3339 instant (with offset) as UTC microseconds since the epoch."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.tzinfo is not None, f"{text!r} needs an offset"
    return to_micros(moment)


def document(type: str, lead: str, at: str, *, event_id: str | None = None, **fields: Any) -> dict:
    """The JSON object of one event; the id defaults to one derived from its content."""
    if event_id is None:
        extra = json.dumps(fields, sort_keys=True) if fields else ""
        event_id = f"{lead}|{type}|{at}|{extra}"
    return {"event_id": event_id, "type": type, "lead_id": lead, "occurred_at": at, **fields}


def event(type: str, lead: str, at: str, *, event_id: str | None = None, **fields: Any) -> bytes:
    """One event as the JSON line a producer would send."""
    return json.dumps(document(type, lead, at, event_id=event_id, **fields)).encode()


def raw(**fields: Any) -> bytes:
    """Any JSON object as bytes, for inputs the contract rejects."""
    return json.dumps(fields).encode()


def decoded(line: bytes, vocabulary: Vocabulary | None = None, now: datetime = CLOCK) -> Event:
    result = decode(line, vocabulary or Vocabulary(), to_micros(now))
    assert isinstance(result, Event), f"expected a valid event, got {result}"
    return result


def rejected(line: bytes, vocabulary: Vocabulary | None = None, now: datetime = CLOCK) -> Rejection:
    result = decode(line, vocabulary or Vocabulary(), to_micros(now))
    assert isinstance(result, Rejection), f"expected a rejection, got {result}"
    return result


def as_series(families: Iterable[Family]) -> Series:
    """`{(name, frozenset(labels.items())): value}` over every exported sample."""
    series: Series = {}
    for family in families:
        for sample in family.samples:
            key = (family.name, frozenset(sample.labels))
            assert key not in series, f"duplicate series {key}"
            series[key] = sample.value
    return series


def replay(
    lines: Iterable[bytes],
    *,
    funnel: Funnel | None = None,
    as_of: str | None = None,
    history: History = History.ALL,
) -> Series:
    """Replay JSON lines (every period exported by default) and return the series."""
    bad: list[tuple[int, Rejection]] = []
    result = replay_lines(
        list(lines),
        funnel or Funnel(),
        now_us=to_micros(CLOCK),
        as_of=None if as_of is None else micros(as_of),
        history=history,
        on_bad=lambda line, rejection: bad.append((line, rejection)),
    )
    assert not bad, f"examples must be valid events: {bad}"
    return as_series(result.families)


def ledger_series(ledger: Ledger, as_of: str, history: History = History.ALL) -> Series:
    """The series a worker holding `ledger` exports at `as_of`."""
    return as_series(export(ledger.totals, ledger.funnel, ledger.calendar, micros(as_of), history))


def select(series: Mapping, name: str, **labels: str) -> dict[frozenset, float]:
    """The samples of `name` whose labels include all of `labels`."""
    wanted = set(labels.items())
    return {key: v for (metric, key), v in series.items() if metric == name and wanted <= key}


def value(series: Mapping, name: str, **labels: str) -> float:
    """The value of the one series of `name` matching `labels`; 0 when absent.

    The contract lets a zero series be omitted, so absent and 0 read the same.
    More than one match means the labels were not specific enough.
    """
    matches = select(series, name, **labels)
    assert len(matches) <= 1, f"{name} {labels} is ambiguous: {sorted(map(sorted, matches))}"
    return next(iter(matches.values()), 0.0)


def has(series: Mapping, name: str, **labels: str) -> bool:
    return bool(select(series, name, **labels))
