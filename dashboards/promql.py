"""PromQL fragments shared by the dashboards.

Business panels sum the recorded per-source series over the sources selected in
the `source` variable and divide those sums, so any selection (one source, several,
all) gives true ratios, never averages of ratios. Targets come from the
`leadflow_target_*` series; company-wide targets are the ones with no source label.
"""

from __future__ import annotations

from dashboards import recording
from projections import catalog
from projections.catalog import Interval, Ratio, Select

# The selected sources, period kind and window (template variables).
SELECTED = 'source=~"$source", period="$period", window="$window"'
# Point-in-time gauges and per-source targets have no period labels.
SOURCES = 'source=~"$source"'
# Company-wide targets are exported with source="" (no source label in Prometheus).
NO_SOURCE = 'source=""'

# Every period the workers keep of the selected kind (current, previous, past), for
# per-period views: `period_start` tells them apart.
KEPT = 'source=~"$source", period="$period", window!="future"'

ENTRIES = "period_source:leadflow_stage_entries:sum"
QUALIFIED = "period_source:leadflow_qualified_entries:sum"


def total(metric: str, matchers: str = "", *, by: str = "") -> str:
    """`metric` summed over the selected sources (optionally kept apart by labels)."""
    selector = f"{metric}{{{join(matchers, SELECTED)}}}"
    return f"sum by ({by}) ({selector})" if by else f"sum({selector})"


def per_period(metric: str, matchers: str = "") -> str:
    """`metric` summed over the selected sources, one value per kept period."""
    return f"sum by (period_start) ({metric}{{{join(matchers, KEPT)}}})"


def per_period_level(like: str, level: str) -> str:
    """A constant (a target) as one value per period that `like` has, for bar charts."""
    return f"0 * {like}\n+ scalar({level})"


def window_total(metric: str, matchers: str, window: str) -> str:
    """`metric` summed over the selected sources in one window of the selected kind."""
    kind = f'source=~"$source", period="$period", window="{window}"'
    return f"sum({metric}{{{join(matchers, kind)}}})"


def year_before_total(metric: str, matchers: str = "") -> str:
    """`metric` summed over the selected sources in the period one year before the
    current one (absent when the kind's history is shorter than a year)."""
    kind = 'source=~"$source", period="$period"'
    return (
        f"sum({metric}{{{join(matchers, kind)}}}\n"
        f"  and on (period, window, period_start) {catalog.PERIOD_YEAR_BEFORE})"
    )


def entries(stage: str, *, by: str = "") -> str:
    return total(ENTRIES, f'stage="{stage}"', by=by)


def qualified(*, by: str = "") -> str:
    return total(QUALIFIED, by=by)


def ratio(numerator: str, denominator: str) -> str:
    return f"{numerator}\n/\n{denominator}"


def derived(ratio: Ratio, *, by: str = "", selection: str = SELECTED) -> str:
    """A catalogue ratio over the selected sources: its recording rule's formula, applied
    to the selection's sums (so win rate, MQL to SQL, … are defined once)."""
    return recording.ratio_expr(ratio, _selected(ratio.kept, by, selection))


def interval(chosen: Interval, bound: str, *, by: str = "", selection: str = SELECTED) -> str:
    """The Wilson interval (`bound` lower or upper) of a catalogue ratio over the
    selected sources, at the workers' configured evidence level."""
    render = _selected(chosen.ratio.kept, by, selection)
    ratio = f"({derived(chosen.ratio, by=by, selection=selection)})"
    p = f"clamp_max(1 / {ratio}, 1)" if chosen.inverse else f"clamp_max({ratio}, 1)"
    n = f"({recording.trials_expr(chosen, render)})"
    low = recording.wilson_bound(p, n, recording.EVIDENCE_Z, "-")
    high = recording.wilson_bound(p, n, recording.EVIDENCE_Z, "+")
    if chosen.inverse:
        low, high = f"1 / ({high})", f"1 / ({low})"
    return low if bound == "lower" else high


def _selected(kept: tuple[str, ...], by: str, selection: str) -> recording.Render:
    labels = ", ".join(dict.fromkeys(label for label in (*kept, *by.split(", ")) if label))

    def render(chosen: Select) -> str:
        return f"sum by ({labels}) ({recording.selection(catalog.LEVEL_SOURCE, chosen, selection)})"

    return render


def company_target(metric: str, matchers: str = "") -> str:
    """A company-wide target (exported with source="", i.e. no source label)."""
    return f"max({metric}{{{join(matchers, NO_SOURCE)}}})"


def source_target(metric: str, matchers: str = "") -> str:
    """A per-source target, for each selected source."""
    return f"max by (source) ({metric}{{{join(matchers, SOURCES)}}})"


def ratio_target(bound: str) -> str:
    return company_target(catalog.TARGET_RATIO, f'bound="{bound}"')


def progress(*, by: str = "") -> str:
    selector = f'{catalog.PERIOD_PROGRESS}{{period="$period", window="$window"}}'
    return f"max by ({by}) ({selector})" if by else f"max({selector})"


def pace(*, by: str = "") -> str:
    """Qualified so far / (company goal x target ratio x share of the period gone)."""
    goal = company_target(catalog.TARGET_CLOSED_DEALS, 'period="$period"')
    return (
        f"{qualified(by=by)}\n/\n({progress(by=by)}"
        f" * scalar({goal}) * scalar({ratio_target('target')}))"
    )


def join(*parts: str) -> str:
    return ", ".join(part for part in parts if part)
