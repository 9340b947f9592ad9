"""What one lead adds to the aggregates: a pure function of its state.

Aggregates are kept per local *day*; weeks, months and quarters are unions of
days and are rolled up at export time, so a lead's contribution stays small.
A key is (metric name, source, day ordinal, extra label values).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

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
from projections.pipeline_velocity import PipelineVelocity

Key = tuple[str, str, int, tuple[str, ...]]
UNKNOWN_SOURCE = "unknown"
NO_PIPELINE_STAGE = "none"

_LEAVABLE = frozenset((LEAD, MQL, SQL, OPPORTUNITY))
_REACHABLE = (OPPORTUNITY, SQL, MQL, LEAD)  # furthest first
# Interned label tuples: keys hash and compare faster when they share objects.
_STAGE_LABEL = {slot: (str(stage),) for slot, stage in enumerate(SLOT_STAGES)}
_ENTRIES = catalog.STAGE_ENTRIES.name
_COHORT = catalog.COHORT_CONVERSIONS.name
_EXITS = catalog.STAGE_EXITS.name
_DWELL = catalog.STAGE_DWELL.name
_REJECTIONS = catalog.REJECTIONS.name
_LOSSES = catalog.LOSSES.name
_EXITS_REACHED = catalog.EXITS_BY_STAGE_REACHED.name
_RESPONSES = catalog.RESPONSES.name
_RESPONSE_SECONDS = catalog.RESPONSE_SECONDS.name
_TIER_MQLS = catalog.TIER_MQLS.name
_TIER_SQLS = catalog.TIER_SQLS.name
_WON_AMOUNT = catalog.WON_AMOUNT.name
_OPEN = catalog.OPEN_LEADS.name
_OPEN_OPPORTUNITIES = catalog.OPEN_OPPORTUNITIES.name
_OPEN_AMOUNT = catalog.OPEN_PIPELINE_AMOUNT.name
_CAMPAIGN_ENTRIES = catalog.CAMPAIGN_STAGE_ENTRIES.name
_SEGMENT_ENTRIES = catalog.SEGMENT_STAGE_ENTRIES.name


StageLabels = tuple[tuple[str, str], ...]


def _labeller(label: Callable[[str | None], str]) -> Callable[[str | None], StageLabels]:
    """value -> the (breakdown label, stage) label tuple of each stage slot, shared."""

    def labelled(value: str | None) -> StageLabels:
        name = label(value)
        return tuple((name, str(stage)) for stage in SLOT_STAGES)

    return labelled


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
        self._tiers: dict[int | None, tuple[str]] = {}
        self._pipeline = PipelineVelocity(funnel.vocabulary.pipeline_stages)
        # Bounded: a producer bug can send any number of distinct sources.
        self._source_label = lru_cache(maxsize=4096)(funnel.source_label)
        # (family, value -> its (label, stage) tuple per slot) per breakdown turned on;
        # bounded caches for the same reason.
        self._breakdowns = tuple(
            (family, lru_cache(maxsize=4096)(_labeller(labels.label)))
            for family, labels in (
                (_CAMPAIGN_ENTRIES, funnel.breakdowns.campaign),
                (_SEGMENT_ENTRIES, funnel.breakdowns.segment),
            )
            if labels is not None
        )

    def contributions(self, lead: LeadState) -> list[tuple[Key, int]]:
        """What the lead adds to the aggregates, as (key, value) pairs."""
        counts, sums = self.parts(lead)
        return [(key, 1) for key in counts] + sums

    def parts(self, lead: LeadState) -> tuple[list[Key], list[tuple[Key, int]]]:
        """The same, split: keys that each add 1 (most of them), and weighted keys.

        Unit keys can be tallied by C code (`collections.Counter`'s helper), which is
        most of the cost of rebuilding aggregates from a million leads.
        """
        times = lead.times
        source = UNKNOWN_SOURCE if lead.source is None else self._source_label(lead.source)
        day_of = self.calendar.day_of
        counts: list[Key] = []
        sums: list[tuple[Key, int]] = []
        add = counts.append
        weigh = sums.append

        days = [0] * 7
        timeline: list[tuple[int, int]] = []
        for slot in range(7):
            ts = times[slot]
            if ts != NEVER:
                day = days[slot] = day_of(ts)
                timeline.append((ts, slot))
                add((_ENTRIES, source, day, _STAGE_LABEL[slot]))
        if not timeline:
            return counts, sums
        for family, labelled in self._breakdowns:
            value = lead.campaign if family is _CAMPAIGN_ENTRIES else lead.segment
            stage_labels = labelled(value)
            for _, slot in timeline:
                add((family, source, days[slot], stage_labels[slot]))

        for start, end, labels in self._pairs:
            if times[start] != NEVER and times[end] != NEVER:
                add((_COHORT, source, days[start], labels))

        if len(timeline) > 1:
            timeline.sort()
            for position in range(len(timeline) - 1):
                ts, slot = timeline[position]
                if slot in _LEAVABLE:
                    next_ts, next_slot = timeline[position + 1]
                    day, label = days[next_slot], _STAGE_LABEL[slot]
                    add((_EXITS, source, day, label))
                    weigh(((_DWELL, source, day, label), next_ts - ts))

        reached = next((slot for slot in _REACHABLE if times[slot] != NEVER), None)
        if lead.rejection is not None and times[REJECTED] != NEVER:
            day = days[REJECTED]
            add((_REJECTIONS, source, day, (lead.rejection[1],)))
            if reached is not None:
                add((_EXITS_REACHED, source, day, self._outcome_labels[(REJECTED, reached)]))
        if lead.loss is not None and times[LOST] != NEVER:
            day = days[LOST]
            add((_LOSSES, source, day, (lead.loss[1],)))
            if reached is not None:
                add((_EXITS_REACHED, source, day, self._outcome_labels[(LOST, reached)]))

        mql = times[MQL]
        if mql != NEVER:
            contacted = times[CONTACTED]
            if contacted != NEVER and contacted >= mql:
                day = day_of(contacted)
                add((_RESPONSES, source, day, ()))
                weigh(((_RESPONSE_SECONDS, source, day, ()), contacted - mql))
            tier = self._tier_label(lead.score_at(mql))
            add((_TIER_MQLS, source, days[MQL], tier))
            if times[SQL] != NEVER:
                add((_TIER_SQLS, source, days[MQL], tier))

        if times[WON] != NEVER or times[LOST] != NEVER:
            self._pipeline.add(lead, source, day_of, add, weigh)

        if lead.won_amount is not None and lead.won_amount[1] is not None:
            weigh(((_WON_AMOUNT, source, days[WON], ()), lead.won_amount[1]))

        if times[REJECTED] == NEVER and times[WON] == NEVER and times[LOST] == NEVER:
            self._open(lead, timeline, days, source, add, weigh)
        return counts, sums

    def _tier_label(self, score: int | None) -> tuple[str]:
        label = self._tiers.get(score)
        if label is None:
            label = self._tiers[score] = (self.funnel.tier_of(score),)
        return label

    def _open(
        self,
        lead: LeadState,
        timeline: list[tuple[int, int]],
        days: list[int],
        source: str,
        add: Callable[[Key], None],
        weigh: Callable[[tuple[Key, int]], None],
    ) -> None:
        current = next((slot for _, slot in reversed(timeline) if slot in _LEAVABLE), None)
        if current is None:
            return
        # Keyed by the day the lead entered its current stage, so export can tell stalls.
        add((_OPEN, source, days[current], _STAGE_LABEL[current]))
        if current == OPPORTUNITY:
            stage = (lead.pipeline[1] if lead.pipeline else NO_PIPELINE_STAGE,)
            add((_OPEN_OPPORTUNITIES, source, days[current], stage))
            amount = lead.opportunity_amount[1] if lead.opportunity_amount else None
            if amount:
                weigh(((_OPEN_AMOUNT, source, days[current], stage), amount))
