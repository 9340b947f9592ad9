"""What one lead adds to the aggregates: a pure function of its state.

Aggregates are kept per local *day*; weeks, months and quarters are unions of
days and are rolled up at export time, so a lead's contribution stays small.
A key is (metric name, source, day ordinal, extra label values).
"""

from __future__ import annotations

from collections.abc import Iterator

from projections import catalog
from projections.funnel import Funnel
from projections.lead import (
    CONTACTED,
    LEAD,
    LOST,
    MQL,
    NEVER,
    OPPORTUNITY,
    REJECTED,
    SLOT_STAGES,
    SQL,
    STAGE_SLOT,
    WON,
    LeadState,
)
from projections.periods import Calendar

Key = tuple[str, str, int, tuple[str, ...]]
UNKNOWN_SOURCE = "unknown"
NO_PIPELINE_STAGE = "none"

_LEAVABLE = frozenset((LEAD, MQL, SQL, OPPORTUNITY))
_EXITS = (REJECTED, WON, LOST)
_REACHABLE = (OPPORTUNITY, SQL, MQL, LEAD)  # furthest first
# Interned label tuples: keys hash and compare faster when they share objects.
_STAGE_LABEL = {slot: (str(stage),) for slot, stage in enumerate(SLOT_STAGES)}


class Contributor:
    def __init__(self, funnel: Funnel, calendar: Calendar) -> None:
        self.funnel = funnel
        self.calendar = calendar
        self._pairs = tuple(
            (STAGE_SLOT[a], STAGE_SLOT[b], (str(a), str(b))) for a, b in funnel.cohort_pairs()
        )
        self._outcome_labels = {
            (outcome, reached): (str(SLOT_STAGES[outcome]), str(SLOT_STAGES[reached]))
            for outcome in (REJECTED, LOST)
            for reached in _REACHABLE
        }

    def contributions(self, lead: LeadState) -> Iterator[tuple[Key, int]]:
        times = lead.times
        source = lead.source or UNKNOWN_SOURCE
        day_of = self.calendar.day_of
        days = [day_of(ts) if ts != NEVER else 0 for ts in times[:7]]

        entered = [slot for slot in range(7) if times[slot] != NEVER]
        for slot in entered:
            yield (catalog.STAGE_ENTRIES.name, source, days[slot], _STAGE_LABEL[slot]), 1

        for start, end, labels in self._pairs:
            if times[start] != NEVER and times[end] != NEVER:
                yield (catalog.COHORT_CONVERSIONS.name, source, days[start], labels), 1

        timeline = sorted((times[slot], slot) for slot in entered)
        for position, (ts, slot) in enumerate(timeline[:-1]):
            if slot in _LEAVABLE:
                next_ts, next_slot = timeline[position + 1]
                day = days[next_slot]
                yield (catalog.STAGE_EXITS.name, source, day, _STAGE_LABEL[slot]), 1
                yield (catalog.STAGE_DWELL.name, source, day, _STAGE_LABEL[slot]), next_ts - ts

        reached = next((slot for slot in _REACHABLE if times[slot] != NEVER), None)
        if lead.rejection is not None and times[REJECTED] != NEVER:
            yield (catalog.REJECTIONS.name, source, days[REJECTED], (lead.rejection[1],)), 1
            if reached is not None:
                labels = self._outcome_labels[(REJECTED, reached)]
                yield (catalog.EXITS_BY_STAGE_REACHED.name, source, days[REJECTED], labels), 1
        if lead.loss is not None and times[LOST] != NEVER:
            yield (catalog.LOSSES.name, source, days[LOST], (lead.loss[1],)), 1
            if reached is not None:
                labels = self._outcome_labels[(LOST, reached)]
                yield (catalog.EXITS_BY_STAGE_REACHED.name, source, days[LOST], labels), 1

        contacted = times[CONTACTED]
        if contacted != NEVER and times[MQL] != NEVER and contacted >= times[MQL]:
            day = day_of(contacted)
            yield (catalog.RESPONSES.name, source, day, ()), 1
            yield (catalog.RESPONSE_SECONDS.name, source, day, ()), contacted - times[MQL]

        if times[MQL] != NEVER:
            tier = (self.funnel.tier_of(lead.score_at(times[MQL])),)
            yield (catalog.TIER_MQLS.name, source, days[MQL], tier), 1
            if times[SQL] != NEVER:
                yield (catalog.TIER_SQLS.name, source, days[MQL], tier), 1

        if lead.won_amount is not None and lead.won_amount[1] is not None:
            yield (catalog.WON_AMOUNT.name, source, days[WON], ()), lead.won_amount[1]

        yield from self._open(lead, timeline, days, source)

    def _open(
        self, lead: LeadState, timeline: list[tuple[int, int]], days: list[int], source: str
    ) -> Iterator[tuple[Key, int]]:
        times = lead.times
        if any(times[slot] != NEVER for slot in _EXITS):
            return
        current = next((slot for _, slot in reversed(timeline) if slot in _LEAVABLE), None)
        if current is None:
            return
        # Keyed by the day the lead entered its current stage, so export can tell stalls.
        yield (catalog.OPEN_LEADS.name, source, days[current], _STAGE_LABEL[current]), 1
        if current == OPPORTUNITY:
            stage = (lead.pipeline[1] if lead.pipeline else NO_PIPELINE_STAGE,)
            yield (catalog.OPEN_OPPORTUNITIES.name, source, days[current], stage), 1
            amount = lead.opportunity_amount[1] if lead.opportunity_amount else None
            if amount:
                yield (catalog.OPEN_PIPELINE_AMOUNT.name, source, days[current], stage), amount
