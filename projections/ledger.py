"""Leads and the aggregates they add up to, kept consistent event by event.

Incremental folding retracts a lead's old contribution and adds its new one, so
the aggregates always equal the sum over leads of `contributions(lead)`, whatever
order events arrive in. A batch pays that cost once per lead, not once per event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import count

from events import Event
from projections.contribution import Contributor, Key
from projections.funnel import Funnel
from projections.lead import LeadState, Outcome
from projections.periods import Calendar

_VERSIONS = count(1)
_DUPLICATE = Outcome.DUPLICATE
_CHANGED = Outcome.CHANGED


@dataclass
class BatchResult:
    processed: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    touched: list[str] = field(default_factory=list)  # leads whose stored state changed


class Ledger:
    def __init__(self, funnel: Funnel, calendar: Calendar | None = None) -> None:
        self.funnel = funnel
        self.calendar = calendar or Calendar(funnel.timezone)
        self.contributor = Contributor(funnel, self.calendar)
        self.leads: dict[str, LeadState] = {}
        self.totals: dict[Key, int] = {}
        self.latest_event_ts: int | None = None
        # Renewed whenever the totals change, so an export of them can be reused. Drawn
        # from one counter for every ledger: a new ledger never repeats an old version.
        self.version = next(_VERSIONS)

    def apply(self, events: Iterable[Event]) -> BatchResult:
        """Fold a batch of events into leads and aggregates."""
        result = BatchResult()
        by_lead: dict[str, list[Event]] = {}
        for event in events:
            by_lead.setdefault(event.lead_id, []).append(event)
        for lead_id, lead_events in by_lead.items():
            self._apply_lead(lead_id, lead_events, result)
        return result

    def _apply_lead(self, lead_id: str, events: list[Event], result: BatchResult) -> None:
        state = self.leads.get(lead_id)
        # A cheap copy now; the costlier old contribution only if something changed.
        before = state.copy() if state is not None else None
        if state is None:
            state = LeadState()
        changed = stored = False
        latest = self.latest_event_ts
        for event in events:
            outcome = state.apply(event)
            if outcome is _DUPLICATE:
                result.duplicates[event.type] += 1
                continue
            result.processed[event.type] += 1
            if latest is None or event.ts > latest:
                latest = event.ts
            stored = True
            changed = changed or outcome is _CHANGED
        self.latest_event_ts = latest
        if changed:
            if before is not None:
                self._add(*self.contributor.parts(before), -1)
            self._add(*self.contributor.parts(state), 1)
        if stored:
            self.leads[lead_id] = state
            result.touched.append(lead_id)

    def fold(self, events: Iterable[Event]) -> BatchResult:
        """Fold events into lead state only; call `rebuild` before reading totals.

        The bulk path of `replay`: contributions are computed once per lead at the
        end instead of twice per lead per batch.
        """
        leads = self.leads
        processed: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        latest = self.latest_event_ts if self.latest_event_ts is not None else -(2**63)
        for event in events:
            state = leads.get(event.lead_id)
            if state is None:
                state = leads[event.lead_id] = LeadState()
            kind = event.type
            if state.apply(event) is _DUPLICATE:
                duplicates[kind] = duplicates.get(kind, 0) + 1
            else:
                processed[kind] = processed.get(kind, 0) + 1
                if event.ts > latest:
                    latest = event.ts
        if processed:
            self.latest_event_ts = latest
        return BatchResult(Counter(processed), Counter(duplicates))

    def rebuild(self, track_latest: bool = True) -> None:
        """Recompute the aggregates from the leads (after `fold`, or a restore).

        `track_latest=False` keeps the latest event time `fold` already tracked.
        """
        counts: Counter[Key] = Counter()
        sums: dict[Key, int] = {}
        parts = self.contributor.parts
        for state in self.leads.values():
            unit, weighted = parts(state)
            counts.update(unit)  # tallied in C
            for key, value in weighted:
                sums[key] = sums.get(key, 0) + value
            if track_latest:
                latest = state.latest_ts()
                if latest is not None:
                    self._saw(latest)
        totals = dict(counts)
        for key, value in sums.items():
            totals[key] = totals.get(key, 0) + value
        self.totals = {key: value for key, value in totals.items() if value}
        self.version = next(_VERSIONS)

    def forget(self, lead_id: str) -> None:
        state = self.leads.pop(lead_id, None)
        if state is not None:
            self._add(*self.contributor.parts(state), -1)

    def _add(self, counts: list[Key], sums: list[tuple[Key, int]], sign: int) -> None:
        self.version = next(_VERSIONS)
        totals = self.totals
        for key in counts:
            total = totals.get(key, 0) + sign
            if total:
                totals[key] = total
            else:
                # Dropped at zero so retracted series vanish and memory stays bounded.
                del totals[key]
        for key, value in sums:
            total = totals.get(key, 0) + sign * value
            if total:
                totals[key] = total
            else:
                totals.pop(key, None)

    def _saw(self, ts: int) -> None:
        if self.latest_event_ts is None or ts > self.latest_event_ts:
            self.latest_event_ts = ts
