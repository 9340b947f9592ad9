"""Per-lead milestone breaches: which leads are overdue at an instant, and why.

A breach is a pure function of a lead's state, the funnel's milestone targets and
an instant `at`. Only what had happened by `at` counts (an entry, contact or exit
stamped later has not happened yet), so a worker asking about now and `replay
--as-of T` asking about T agree for the same events, whatever order those arrived in.

Two rules (limits in `targets.response_max_by_tier` and `targets.pipeline_stage_max`,
per source like every target):

- `response`: the lead entered mql, its score tier at that entry has a response
  limit, and by `at` it has been neither contacted nor moved on (sql, opportunity,
  rejected, won, lost) although the limit has passed. Any contact counts, even one
  stamped before the MQL entry: sales already knows the lead, so nobody is paged.
- `pipeline_stage`: the lead is an open opportunity whose latest pipeline sub-stage
  (entered by `at`) has a limit, and it has sat there past it. The state keeps only
  the latest sub-stage, so an instant before that change names no sub-stage and
  gives no breach rather than a guessed one.

Limits run on the wall clock, except response limits when the targets set
`response_business_hours` (`projections.business_hours`). The identity of a breach
is its label set (`alert_labels`): stable while the breach lasts, the same on any
worker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from events.decode import from_micros
from projections import catalog
from projections.business_hours import BusinessHours
from projections.business_hours import deadline as business_deadline
from projections.contribution import UNKNOWN_SOURCE
from projections.funnel import Funnel
from projections.lead import (
    CONTACTED,
    LOST,
    MQL,
    NEVER,
    OPPORTUNITY,
    REJECTED,
    SQL,
    WON,
    LeadState,
)
from projections.snapshot import Family, Sample

_MICROS = 1_000_000
_NO_MAX_AGE = 2**62
MQL_STAGE = "mql"
TEAM = "sales"
SEVERITY = "warning"


class Rule(StrEnum):
    RESPONSE = "response"
    PIPELINE_STAGE = "pipeline_stage"


ALERT_NAMES: dict[Rule, str] = {
    Rule.RESPONSE: "LeadflowLeadResponseOverdue",
    Rule.PIPELINE_STAGE: "LeadflowDealStuckInStage",
}


@dataclass(frozen=True, slots=True)
class Breach:
    rule: Rule
    lead_id: str
    source: str  # the lead's source label (bounded, as on the metrics)
    tier: str  # score tier when the clock started
    stage: str  # "mql", or the pipeline sub-stage
    since: int  # when the clock started (MQL entry, sub-stage entry), µs since the epoch
    sla: int  # the limit, µs
    campaign: str | None
    deadline: int  # since + sla, or later when the limit counts business hours only
    business_hours: bool = False

    def waited(self, at: int) -> int:
        return at - self.since


@dataclass(frozen=True, slots=True)
class _Limits:
    """One source's limits in µs; `response_min` lets most leads skip the tier lookup."""

    response: dict[str, int]
    response_min: int | None  # business hours only ever move a deadline later
    pipeline: dict[str, int]
    hours: BusinessHours | None
    max_age: int  # µs past the deadline a breach is still alerted


class Milestones:
    """The milestone rules of one funnel, with per-source limits looked up once."""

    def __init__(self, funnel: Funnel) -> None:
        self.funnel = funnel
        # Bounded: a producer bug can send any number of distinct sources.
        self._source_label = lru_cache(maxsize=4096)(funnel.source_label)
        self._by_source: dict[str, _Limits] = {}
        self._zone = ZoneInfo(funnel.timezone)

    def breaches(self, lead_id: str, state: LeadState, at: int) -> list[Breach]:
        """The breaches of one lead open at `at` (µs since the epoch)."""
        # Called for every owned lead every round: the common cases leave early.
        times = state.times
        mql, opportunity = times[MQL], times[OPPORTUNITY]
        if mql > at and opportunity > at:
            return []  # nothing to watch yet
        if times[REJECTED] <= at or times[WON] <= at or times[LOST] <= at:
            return []  # closed
        source = UNKNOWN_SOURCE if state.source is None else self._source_label(state.source)
        limits = self._limits(source)
        found: list[Breach] = []
        if (
            mql <= at
            and limits.response_min is not None
            and at >= mql + limits.response_min
            and times[CONTACTED] > at
            and times[SQL] > at
            and opportunity > at
        ):
            clock = self._response_clock(state, mql, limits)
            if clock is not None:
                tier, sla, due = clock
                if due <= at <= due + limits.max_age:
                    found.append(
                        Breach(
                            Rule.RESPONSE,
                            lead_id,
                            source,
                            tier,
                            MQL_STAGE,
                            mql,
                            sla,
                            state.campaign,
                            due,
                            limits.hours is not None,
                        )
                    )
        pipeline = state.pipeline
        if opportunity <= at and pipeline is not None and pipeline[0] <= at:
            changed, stage = pipeline[0], pipeline[1]  # then entries per sub-stage
            sla = limits.pipeline.get(stage)
            if sla is not None:
                since = max(changed, opportunity)
                if since + sla <= at <= since + sla + limits.max_age:
                    tier = self.funnel.tier_of(state.score_at(since))
                    found.append(
                        Breach(
                            Rule.PIPELINE_STAGE,
                            lead_id,
                            source,
                            tier,
                            stage,
                            since,
                            sla,
                            state.campaign,
                            since + sla,
                        )
                    )
        return found

    def _limits(self, source: str) -> _Limits:
        limits = self._by_source.get(source)
        if limits is None:
            targets = self.funnel.targets_for(source)
            response = {
                t: _micros(d.total_seconds()) for t, d in targets.response_max_by_tier.items()
            }
            pipeline = {
                s: _micros(d.total_seconds()) for s, d in targets.pipeline_stage_max.items()
            }
            limits = _Limits(
                response,
                min(response.values(), default=None),
                pipeline,
                targets.response_business_hours,
                _NO_MAX_AGE
                if targets.milestone_max_age is None
                else _micros(targets.milestone_max_age.total_seconds()),
            )
            if len(self._by_source) < 4096:  # bounded: sources come from producers
                self._by_source[source] = limits
        return limits

    def _response_clock(
        self, state: LeadState, mql: int, limits: _Limits
    ) -> tuple[str, int, int] | None:
        """(tier, limit, deadline) of the lead's first-contact clock; None: no limit."""
        tier = self.funnel.tier_of(state.score_at(mql))
        sla = limits.response.get(tier)
        if sla is None:
            return None
        hours = limits.hours
        due = mql + sla if hours is None else business_deadline(mql, sla, hours, self._zone)
        return tier, sla, due

    def watching(self, state: LeadState, at: int) -> bool:
        """Whether the lead can be in breach at `at` or later without new events.

        False stays False as time passes (contacts and exits only accumulate, and a
        breach older than the maximum age is never reported again), so a worker
        looks again only at leads whose state changed.
        """
        times = state.times
        if times[REJECTED] <= at or times[WON] <= at or times[LOST] <= at:
            return False
        mql, opportunity = times[MQL], times[OPPORTUNITY]
        if mql == NEVER and opportunity == NEVER:
            return False
        if at < mql < NEVER or at < opportunity < NEVER:
            return True  # stamped ahead of `at` (within the allowed clock skew)
        source = UNKNOWN_SOURCE if state.source is None else self._source_label(state.source)
        limits = self._limits(source)
        if opportunity != NEVER:  # entered by `at`: only the pipeline rule is left
            pipeline = state.pipeline
            if pipeline is None:
                return False  # a sub-stage needs a new event, which is looked at anyway
            if pipeline[0] > at:
                return True
            sla = limits.pipeline.get(pipeline[1])
            return sla is not None and at <= max(pipeline[0], opportunity) + sla + limits.max_age
        if times[CONTACTED] <= at or times[SQL] <= at:
            return False
        clock = self._response_clock(state, mql, limits)
        return clock is not None and at <= clock[2] + limits.max_age

    def all_breaches(self, leads: Iterable[tuple[str, LeadState]], at: int) -> list[Breach]:
        found: list[Breach] = []
        for lead_id, state in leads:
            found.extend(self.breaches(lead_id, state, at))
        return found


def _micros(seconds: float) -> int:
    return round(seconds * _MICROS)


def alert_labels(breach: Breach, app: str) -> dict[str, str]:
    """The breach's identity in Alertmanager: the same breach, the same labels.

    `app` is the deployment's app id (LEADFLOW_APP_ID): two deployments sharing an
    Alertmanager never take over each other's alerts.
    """
    return {
        "alertname": ALERT_NAMES[breach.rule],
        "app": app,
        "rule": str(breach.rule),
        "lead_id": breach.lead_id,
        "source": breach.source,
        "tier": breach.tier,
        "stage": breach.stage,
        "team": TEAM,
        "severity": SEVERITY,
    }


def alert_annotations(breach: Breach, at: int, runbook_base: str = "") -> dict[str, str]:
    """What a person reads: when the clock started, how long it has run, the limit.

    `runbook_base`: where docs/runbooks.md is published (LEADFLOW_RUNBOOK_BASE_URL).
    """
    since = rfc3339(breach.since)
    waited, sla = readable(breach.waited(at)), readable(breach.sla)
    if breach.business_hours:
        sla += " of business hours"
    campaign = breach.campaign or ""
    if breach.rule is Rule.RESPONSE:
        summary = (
            f"Lead {breach.lead_id} ({breach.tier}, {breach.source}) has waited {waited} "
            f"for a first contact since its MQL at {since}; the SLA is {sla}"
        )
    else:
        summary = (
            f"Deal {breach.lead_id} ({breach.tier}, {breach.source}) has been in "
            f"{breach.stage} for {waited} since {since}; the limit is {sla}"
        )
    return {
        "summary": summary + (f" (campaign {campaign})" if campaign else ""),
        "since": since,
        "waited": waited,
        "waited_seconds": str(breach.waited(at) // _MICROS),
        "sla": sla,
        "sla_seconds": str(breach.sla // _MICROS),
        "campaign": campaign,
        **(
            {"runbook_url": f"{runbook_base}#{ALERT_NAMES[breach.rule].lower()}"}
            if runbook_base
            else {}
        ),
    }


def rfc3339(ts: int) -> str:
    return from_micros(ts).isoformat(timespec="seconds").replace("+00:00", "Z")


def readable(micros: int) -> str:
    """A duration as people say it: '3d 4h', '1h 05m', '42s'."""
    seconds = max(0, micros // _MICROS)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


BreachKey = tuple[str, str, str, str]  # (source, tier, stage, rule)


def breach_counts(breaches: Iterable[Breach]) -> Counter[BreachKey]:
    return Counter((b.source, b.tier, b.stage, str(b.rule)) for b in breaches)


def breach_family(counts: Counter[BreachKey]) -> Family:
    """Open breaches without lead labels: additive across workers, like open leads."""
    metric = catalog.MILESTONE_BREACHES
    samples = tuple(
        Sample(tuple(zip(metric.labels, key, strict=True)), float(count))
        for key, count in sorted(counts.items())
        if count
    )
    return Family(metric.name, metric.help, samples)


def breach_report(
    leads: Mapping[str, LeadState], funnel: Funnel, at: int, app: str, runbook_base: str = ""
) -> list[dict[str, Any]]:
    """Every breach open at `at`, as the worker posts it (without `endsAt`), by lead."""
    rules = Milestones(funnel)
    found = rules.all_breaches(sorted(leads.items()), at)
    return [
        {
            "labels": alert_labels(breach, app),
            "annotations": alert_annotations(breach, at, runbook_base),
            "startsAt": rfc3339(breach.deadline),
        }
        for breach in found
    ]
