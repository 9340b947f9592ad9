"""Ratios and averages derived from summed additive totals, per source and overall.

These mirror the Prometheus recording rules (same names and labels), so `replay`
output can be checked against what Prometheus computes from the workers.
"""

from __future__ import annotations

from collections import defaultdict

from events import LEAVABLE_STAGES, Stage
from projections import catalog, pipeline_velocity
from projections.funnel import Funnel
from projections.periods import AsOf, Calendar, PeriodKind
from projections.snapshot import Family, Labels, Rolled, Sample, period_labels, scaled

Totals = dict[tuple[str, tuple[str, ...]], int]
GroupKey = tuple[PeriodKind, int, str | None]  # source None: over all sources

_ENTRIES = catalog.STAGE_ENTRIES.name
_COHORT = catalog.COHORT_CONVERSIONS.name


def derived_families(
    rolled: Rolled, funnel: Funnel, calendar: Calendar, as_of: AsOf
) -> list[Family]:
    groups: dict[GroupKey, Totals] = defaultdict(lambda: defaultdict(int))
    for (metric, kind, start, source, labels), value in rolled.items():
        groups[(kind, start, source)][(metric, labels)] += value
        groups[(kind, start, None)][(metric, labels)] += value
    out: dict[str, list[Sample]] = defaultdict(list)
    for (kind, start, source), totals in groups.items():
        base = period_labels(kind, start, as_of)
        if source is not None:
            base = (*base, ("source", source))
        level = catalog.LEVEL_ALL if source is None else catalog.LEVEL_SOURCE
        progress = calendar.progress(kind, start, as_of.instant)
        for metric, extra, value in _derive(totals, funnel, source, kind, progress):
            out[catalog.derived_name(level, metric)].append(Sample((*base, *extra), value))
    _week_over_week(groups, as_of, out)
    return [
        Family(
            name,
            "Derived from the additive series; see the README's metric catalogue.",
            tuple(sorted(samples, key=lambda s: s.labels)),
        )
        for name, samples in sorted(out.items())
    ]


def _derive(
    totals: Totals, funnel: Funnel, source: str | None, kind: PeriodKind, progress: float
) -> list[tuple[str, Labels, float]]:
    def entries(stage: Stage) -> int:
        return totals.get((_ENTRIES, (str(stage),)), 0)

    rows: list[tuple[str, Labels, float]] = []

    def ratio(metric: str, labels: Labels, num: float, den: float) -> None:
        if den:
            rows.append((metric, labels, num / den))

    for start, end in funnel.cohort_pairs():
        pair = (("from_stage", str(start)), ("to_stage", str(end)))
        ratio(
            catalog.DERIVED_CONVERSION, (*pair, ("basis", "period")), entries(end), entries(start)
        )
        cohort = totals.get((_COHORT, (str(start), str(end))), 0)
        ratio(catalog.DERIVED_CONVERSION, (*pair, ("basis", "cohort")), cohort, entries(start))

    qualified, won, lost = entries(funnel.qualified_stage), entries(Stage.WON), entries(Stage.LOST)
    targets = funnel.targets_for(source)
    band = targets.qualified_to_won_ratio
    if won:
        value = qualified / won
        rows.append((catalog.DERIVED_QUALIFIED_TO_WON, (), value))
        position = -1.0 if value < band.lower else 1.0 if value > band.upper else 0.0
        rows.append((catalog.DERIVED_RATIO_BAND, (), position))
    lead_won = totals.get((_COHORT, (str(Stage.LEAD), str(Stage.WON))), 0)
    ratio(catalog.DERIVED_LEAD_TO_CLOSE, (("basis", "period"),), won, entries(Stage.LEAD))
    ratio(catalog.DERIVED_LEAD_TO_CLOSE, (("basis", "cohort"),), lead_won, entries(Stage.LEAD))
    ratio(catalog.DERIVED_WIN_RATE, (), won, won + lost)

    for stage in LEAVABLE_STAGES:
        label = (str(stage),)
        dwell = scaled(catalog.STAGE_DWELL.name, totals.get((catalog.STAGE_DWELL.name, label), 0))
        exits = totals.get((catalog.STAGE_EXITS.name, label), 0)
        ratio(catalog.DERIVED_DWELL, (("stage", str(stage)),), dwell, exits)

    response = scaled(
        catalog.RESPONSE_SECONDS.name, totals.get((catalog.RESPONSE_SECONDS.name, ()), 0)
    )
    ratio(catalog.DERIVED_RESPONSE, (), response, totals.get((catalog.RESPONSES.name, ()), 0))

    for (metric, labels), mqls in sorted(totals.items()):
        if metric == catalog.TIER_MQLS.name:
            sqls = totals.get((catalog.TIER_SQLS.name, labels), 0)
            ratio(catalog.DERIVED_TIER, (("tier", labels[0]),), sqls, mqls)

    rows.extend(pipeline_velocity.derived_rows(totals))

    goal = targets.closed_goal(kind)
    if goal:
        ratio(catalog.DERIVED_PACE, (), qualified, goal * band.target * progress)
    return rows


def _week_over_week(
    groups: dict[GroupKey, Totals], as_of: AsOf, out: dict[str, list[Sample]]
) -> None:
    """Change of the lead to MQL period rate from the previous week to the current one."""
    current, previous = as_of.current[PeriodKind.WEEK], as_of.previous[PeriodKind.WEEK]
    sources = {source for kind, _, source in groups if kind is PeriodKind.WEEK}
    for source in sources:
        now = groups.get((PeriodKind.WEEK, current, source))
        before = groups.get((PeriodKind.WEEK, previous, source))
        if now is None or before is None:
            continue
        now_rate, before_rate = _lead_to_mql_rate(now), _lead_to_mql_rate(before)
        if now_rate is None or not before_rate:
            continue
        labels: Labels = period_labels(PeriodKind.WEEK, current, as_of)
        level = catalog.LEVEL_ALL
        if source is not None:
            labels = (*labels, ("source", source))
            level = catalog.LEVEL_SOURCE
        name = catalog.derived_name(level, catalog.DERIVED_LEAD_TO_MQL_WOW)
        out[name].append(Sample(labels, now_rate / before_rate - 1))


def _lead_to_mql_rate(totals: Totals) -> float | None:
    leads = totals.get((_ENTRIES, (str(Stage.LEAD),)), 0)
    mqls = totals.get((_ENTRIES, (str(Stage.MQL),)), 0)
    return mqls / leads if leads else None
