"""From day-keyed aggregates to the exported series at an as-of instant.

Rolls days up into every period kind, labels each period with its window, and adds
the point-in-time gauges, the configuration series and the derived ratios.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from events import LEAVABLE_STAGES, Stage
from projections import catalog
from projections.contribution import Key
from projections.funnel import Funnel
from projections.periods import (
    DAY_US,
    PERIOD_KINDS,
    AsOf,
    Calendar,
    PeriodKind,
    iso_date,
)

Labels = tuple[tuple[str, str], ...]
# (metric, period kind, period start day, source, extra label values) -> raw total
Rolled = dict[tuple[str, PeriodKind, int, str, tuple[str, ...]], int]

_MICROS = 1_000_000
_CENTS = 100
# Raw totals are integers (exact and order-free); these are the exported units.
_SCALE = {
    catalog.STAGE_DWELL.name: _MICROS,
    catalog.PIPELINE_STAGE_DWELL.name: _MICROS,
    catalog.RESPONSE_SECONDS.name: _MICROS,
    catalog.WON_AMOUNT.name: _CENTS,
    catalog.OPEN_PIPELINE_AMOUNT.name: _CENTS,
}
_ADDITIVE = {metric.name: metric for metric in catalog.ADDITIVE_METRICS}
# The same period a year before: 364 days keeps the weekday, 52 ISO weeks the week.
PERIODS_PER_YEAR = {
    PeriodKind.DAY: 364,
    PeriodKind.WEEK: 52,
    PeriodKind.MONTH: 12,
    PeriodKind.QUARTER: 4,
}


class History(StrEnum):
    # The current period of each kind and the configured number of completed ones
    # before it (`funnel.history`): bounded cardinality.
    LIVE = "live"
    ALL = "all"  # every period that has data


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Labels
    value: float


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    help: str
    samples: tuple[Sample, ...]


def scaled(metric: str, raw: float) -> float:
    scale = _SCALE.get(metric)
    return raw / scale if scale else float(raw)


def period_labels(kind: PeriodKind, start: int, as_of: AsOf) -> Labels:
    return (
        ("period", str(kind)),
        ("window", str(as_of.window(kind, start))),
        ("period_start", iso_date(start)),
    )


def roll_up(totals: Mapping[Key, int], calendar: Calendar, as_of: AsOf, history: History) -> Rolled:
    """Sum day-keyed additive totals into the periods the history mode exports."""
    rolled: Rolled = defaultdict(int)
    period_start = calendar.period_start
    live = history is History.LIVE
    bounds = {kind: (as_of.oldest(kind), as_of.current[kind]) for kind in PERIOD_KINDS}
    for (metric, source, day, labels), value in totals.items():
        if metric not in _ADDITIVE:
            continue
        for kind in PERIOD_KINDS:
            start = period_start(kind, day)
            if live:
                oldest, current = bounds[kind]
                if start < oldest or start > current:
                    continue
            rolled[(metric, kind, start, source, labels)] += value
    return rolled


def additive_families(rolled: Rolled, as_of: AsOf) -> list[Family]:
    grouped: dict[str, list[Sample]] = defaultdict(list)
    for (metric, kind, start, source, extra), value in rolled.items():
        if not value:
            continue
        labels = (
            *period_labels(kind, start, as_of),
            ("source", source),
            *zip(_ADDITIVE[metric].labels, extra, strict=True),
        )
        grouped[metric].append(Sample(labels, scaled(metric, value)))
    return [
        Family(name, _ADDITIVE[name].help, tuple(sorted(samples, key=lambda s: s.labels)))
        for name, samples in grouped.items()
    ]


def point_in_time_families(
    totals: Mapping[Key, int], funnel: Funnel, calendar: Calendar, as_of: AsOf
) -> list[Family]:
    """Open and stalled leads and open pipeline at the as-of instant."""
    point_metrics = {metric.name: metric for metric in catalog.POINT_IN_TIME_METRICS}
    sums: dict[tuple[str, str, tuple[str, ...]], int] = defaultdict(int)
    today = calendar.day_of(as_of.instant)
    for (metric, source, day, labels), value in totals.items():
        if metric not in point_metrics:
            continue
        sums[(metric, source, labels)] += value
        if metric == catalog.OPEN_LEADS.name and _stalled(funnel, source, labels[0], day, today):
            sums[(catalog.STALLED_LEADS.name, source, labels)] += value
    grouped: dict[str, list[Sample]] = defaultdict(list)
    for (metric, source, extra), value in sums.items():
        labels = (("source", source), *zip(point_metrics[metric].labels, extra, strict=True))
        grouped[metric].append(Sample(labels, scaled(metric, value)))
    return [
        Family(name, point_metrics[name].help, tuple(sorted(samples, key=lambda s: s.labels)))
        for name, samples in grouped.items()
    ]


def _stalled(funnel: Funnel, source: str, stage: str, entry_day: int, today: int) -> bool:
    # Day resolution: stalled once the whole entry day lies further back than the
    # maximum dwell, so a lead is never called stalled early.
    limit = funnel.targets_for(source).stage_dwell_max.get(Stage(stage))
    return limit is not None and (today - entry_day - 1) * DAY_US >= limit.total_seconds() * _MICROS


def configuration_families(
    funnel: Funnel, calendar: Calendar, as_of: AsOf, sources: Iterable[str]
) -> list[Family]:
    """Targets, the qualified stage and period progress, as series rules can join on."""
    ratio, closed, mql_sql, wow, dwell, response, pipeline = ([] for _ in range(7))
    for source in ("", *sorted(set(sources) | set(funnel.sources))):
        targets = funnel.targets_for(source or None)
        src = (("source", source),)
        band = targets.qualified_to_won_ratio
        for bound, value in (("target", band.target), ("lower", band.lower), ("upper", band.upper)):
            ratio.append(Sample((*src, ("bound", bound)), value))
        for kind, goal in targets.closed_deals.items():
            closed.append(Sample((("period", str(kind)), *src), goal))
        mql_sql.append(Sample(src, targets.mql_to_sql_min_ratio))
        wow.append(Sample(src, targets.lead_to_mql_max_wow_drop_ratio))
        for stage in LEAVABLE_STAGES:
            limit = targets.stage_dwell_max.get(stage)
            if limit is not None:
                dwell.append(Sample((*src, ("stage", str(stage))), limit.total_seconds()))
        response.append(Sample(src, targets.response_max.total_seconds()))
        pipeline.append(Sample(src, targets.pipeline_stage_dwell_max.total_seconds()))
    progress, year_before = [], []
    for kind in PERIOD_KINDS:
        # Every period a live export keeps: completed ones are at 1 (the pace of a
        # past period is its final figure against the whole period's goal).
        for start in reversed(as_of.starts[kind]):
            value = calendar.progress(kind, start, as_of.instant)
            progress.append(Sample(period_labels(kind, start, as_of), value))
        back = PERIODS_PER_YEAR[kind]
        if back < len(as_of.starts[kind]):
            year_before.append(Sample(period_labels(kind, as_of.starts[kind][back], as_of), 1.0))
    info = [Sample((("stage", str(funnel.qualified_stage)), ("role", "qualified")), 1.0)]
    return [
        Family(
            catalog.TARGET_RATIO, "Qualified-leads-to-sales ratio target and band.", tuple(ratio)
        ),
        Family(catalog.TARGET_CLOSED_DEALS, "Closed-deal goal per period kind.", tuple(closed)),
        Family(catalog.TARGET_MQL_TO_SQL_MIN, "Minimum MQL to SQL rate.", tuple(mql_sql)),
        Family(
            catalog.TARGET_LEAD_TO_MQL_MAX_DROP,
            "Largest tolerated week-over-week drop of the lead to MQL rate (share).",
            tuple(wow),
        ),
        Family(catalog.TARGET_DWELL_MAX, "Maximum dwell per stage.", tuple(dwell)),
        Family(catalog.TARGET_RESPONSE_MAX, "MQL response-time SLA.", tuple(response)),
        Family(
            catalog.TARGET_PIPELINE_DWELL_MAX,
            "Maximum average time closed deals may spend in one pipeline sub-stage.",
            tuple(pipeline),
        ),
        Family(catalog.PERIOD_PROGRESS, "Share of the period elapsed at as-of.", tuple(progress)),
        Family(
            catalog.PERIOD_YEAR_BEFORE,
            "1 for the kept period one year before the current one (364 days, 52 weeks, "
            "12 months, 4 quarters).",
            tuple(year_before),
        ),
        Family(catalog.FUNNEL_STAGE_INFO, "Funnel stage roles (1 = has the role).", tuple(info)),
        Family(
            catalog.EVIDENCE_Z,
            "z score of the configured interval level (evidence.level) for business alerts.",
            (Sample((("level", f"{funnel.evidence.level:g}"),), funnel.evidence.z),),
        ),
        Family(
            catalog.EVIDENCE_MIN_COUNT,
            "Fewest trials (e.g. qualified leads) a business alert concludes from.",
            (Sample((), float(funnel.evidence.min_count)),),
        ),
    ]
