"""Ratios and averages derived from summed additive totals, per source and overall.

The ratios are the catalogue's declarations (projections/catalog.py) evaluated on
totals; the recording rules are generated from the same declarations, so `replay`
output can be checked against what Prometheus computes from the workers. The few
series that are not a plain ratio of sums (the band position, pace, week over week)
are written out here and in dashboards/recording.py.
"""

from __future__ import annotations

from collections import defaultdict

from events import Stage
from projections import catalog
from projections.catalog import Interval, Ratio, Select
from projections.evidence import wilson
from projections.funnel import Funnel
from projections.periods import AsOf, Calendar, PeriodKind
from projections.snapshot import Family, Labels, Rolled, Sample, period_labels, scaled

Totals = dict[tuple[str, tuple[str, ...]], int]
GroupKey = tuple[PeriodKind, int, str | None]  # source None: over all sources
Values = dict[tuple[str, ...], float]  # kept label values -> value


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


class Group:
    """The totals of one period (and source), with each selection summed once."""

    def __init__(self, totals: Totals, funnel: Funnel) -> None:
        self.funnel = funnel
        self._by_family: dict[str, list[tuple[tuple[str, ...], int]]] = defaultdict(list)
        for (name, labels), value in totals.items():
            self._by_family[name].append((labels, value))
        self._selected: dict[Select, Values] = {}

    def select(self, selection: Select) -> Values:
        """The totals of one selection, by the values of the labels it keeps."""
        if (cached := self._selected.get(selection)) is not None:
            return cached
        metric = selection.metric
        match = dict(selection.match)
        if selection.qualified:
            match["stage"] = str(self.funnel.qualified_stage)
        fixed = [(metric.labels.index(label), wanted) for label, wanted in match.items()]
        kept = [metric.labels.index(label) for label in selection.kept]
        values: Values = defaultdict(float)
        for labels, value in self._by_family.get(metric.name, ()):
            if all(labels[i] == wanted for i, wanted in fixed):
                values[tuple(labels[i] for i in kept)] += scaled(metric.name, value)
        self._selected[selection] = values
        return values


def _sum(group: Group, selections: tuple[Select, ...]) -> Values:
    summed: Values = defaultdict(float)
    for selection in selections:
        for key, value in group.select(selection).items():
            summed[key] += value
    return summed


def ratio_values(group: Group, ratio: Ratio) -> Values:
    numerator = group.select(ratio.numerator)
    denominator = _sum(group, ratio.denominator)
    return {key: numerator.get(key, 0.0) / den for key, den in denominator.items() if den}


def interval_values(
    group: Group, interval: Interval
) -> dict[tuple[str, ...], tuple[float, float, float]]:
    """(trials, lower, upper), the bounds on the ratio's scale, wherever the ratio and
    its trials exist."""
    z = group.funnel.evidence.z
    successes = group.select(interval.successes)
    trials = _sum(group, interval.trials)
    out = {}
    for key in ratio_values(group, interval.ratio):
        n = trials.get(key, 0.0)
        if not n:
            continue
        low, high = wilson(successes.get(key, 0.0), n, z)
        out[key] = (n, 1 / high, 1 / low) if interval.inverse else (n, low, high)
    return out


def qualified_pair_ratios(funnel: Funnel) -> tuple[Ratio, ...]:
    """(qualified stage) -> won, unless it is one of the main pairs already."""
    start = str(funnel.qualified_stage)
    if (start, "won") in catalog.MAIN_PAIRS:
        return ()
    return tuple(catalog.conversion(start, "won", basis) for basis in ("period", "cohort"))


def _derive(
    raw: Totals, funnel: Funnel, source: str | None, kind: PeriodKind, progress: float
) -> list[tuple[str, Labels, float]]:
    group = Group(raw, funnel)
    rows: list[tuple[str, Labels, float]] = []
    for ratio in (*catalog.RATIOS, *qualified_pair_ratios(funnel)):
        for key, value in ratio_values(group, ratio).items():
            rows.append((ratio.name, (*ratio.labels, *zip(ratio.kept, key, strict=True)), value))
    for interval in catalog.INTERVALS:
        for key, (trials, low, high) in interval_values(group, interval).items():
            labels = (*interval.ratio.labels, *zip(interval.ratio.kept, key, strict=True))
            rows.append((interval.trials_name, labels, trials))
            rows.append((interval.lower, labels, low))
            rows.append((interval.upper, labels, high))

    qualified = group.select(catalog.QUALIFIED_ENTRIES).get((), 0.0)
    targets = funnel.targets_for(source)
    band = targets.qualified_to_won_ratio
    qualified_to_won = ratio_values(group, catalog.QUALIFIED_TO_WON).get(())
    if qualified_to_won is not None:
        position = -1.0 if qualified_to_won < band.lower else 0.0
        position = 1.0 if qualified_to_won > band.upper else position
        rows.append((catalog.DERIVED_RATIO_BAND, (), position))
    goal = targets.closed_goal(kind)
    if goal and progress:
        rows.append((catalog.DERIVED_PACE, (), qualified / (goal * band.target * progress)))
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
    leads = totals.get((catalog.STAGE_ENTRIES.name, (str(Stage.LEAD),)), 0)
    mqls = totals.get((catalog.STAGE_ENTRIES.name, (str(Stage.MQL),)), 0)
    return mqls / leads if leads else None
