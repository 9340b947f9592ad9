"""Per-source comparison: the recorded per-source ratios side by side, each source
against its own targets."""

from __future__ import annotations

from dashboards import promql as q
from dashboards import variables
from dashboards.builder import (
    JSON,
    Query,
    bargauge,
    dashboard,
    limit_override,
    row,
    table,
    threshold_line,
    timeseries,
)
from dashboards.funnel import PACE_COLOURS
from projections import catalog


def _recorded(name: str, matchers: str = "") -> str:
    """A recorded per-source series for the selected sources, one value per source."""
    return f"max by (source) (period_source:{name}{{{q.join(matchers, q.SELECTED)}}})"


_MQL_TO_SQL = 'from_stage="mql", to_stage="sql", basis="period"'
_LEAD_TO_MQL = 'from_stage="lead", to_stage="mql", basis="period"'

COLUMNS = {
    "source": "Source",
    "Value #A": "Qualified",
    "Value #B": "Won",
    "Value #C": "Qualified / won",
    "Value #D": "Target ratio",
    "Value #E": "Band (-1 below, 0 in, 1 above)",
    "Value #F": "Lead → MQL",
    "Value #G": "MQL → SQL",
    "Value #H": "Win rate",
    "Value #I": "Pace",
    "Value #J": "Ratio interval low",
    "Value #K": "Ratio interval high",
}
_RATIO_INTERVAL = next(i for i in catalog.INTERVALS if i.ratio == catalog.QUALIFIED_TO_WON)


def build() -> JSON:
    panels = [
        table(
            "Sources at a glance",
            Query(q.qualified(by="source"), table=True),
            Query(q.entries("won", by="source"), table=True),
            Query(_recorded(catalog.DERIVED_QUALIFIED_TO_WON), table=True),
            Query(q.source_target(catalog.TARGET_RATIO, 'bound="target"'), table=True),
            Query(_recorded(catalog.DERIVED_RATIO_BAND), table=True),
            Query(_recorded(catalog.DERIVED_CONVERSION, _LEAD_TO_MQL), table=True),
            Query(_recorded(catalog.DERIVED_CONVERSION, _MQL_TO_SQL), table=True),
            Query(_recorded(catalog.DERIVED_WIN_RATE), table=True),
            Query(_recorded(catalog.DERIVED_PACE), table=True),
            Query(_recorded(_RATIO_INTERVAL.lower), table=True),
            Query(_recorded(_RATIO_INTERVAL.upper), table=True),
            columns=COLUMNS,
            width=24,
            description="Each source against its own targets (a source without overrides "
            "inherits the company's). Pace uses the source's closed-deal goal. The ratio "
            "interval is the evidence alerts use: a source alerts only when all of it lies "
            "beyond the target (and it has enough qualified leads).",
        ),
        row("Qualified-leads-to-sales ratio"),
        bargauge(
            "Qualified-to-won ratio by source",
            Query(_recorded(catalog.DERIVED_QUALIFIED_TO_WON), "{{source}}"),
            decimals=2,
        ),
        timeseries(
            "Qualified-to-won ratio by source vs target",
            Query(_recorded(catalog.DERIVED_QUALIFIED_TO_WON), "{{source}}"),
            Query(q.source_target(catalog.TARGET_RATIO, 'bound="upper"'), "upper {{source}}"),
            Query(q.source_target(catalog.TARGET_RATIO, 'bound="lower"'), "lower {{source}}"),
            overrides=(
                limit_override("/^upper .*/", "orange", regex=True),
                limit_override("/^lower .*/", "orange", regex=True),
            ),
            decimals=2,
            description="Dashed: each source's band bounds.",
        ),
        threshold_line(
            timeseries(
                "Qualified pace by source",
                Query(_recorded(catalog.DERIVED_PACE), "{{source}}"),
                unit="percentunit",
                thresholds=PACE_COLOURS,
                description="Against each source's own closed-deal goal; a source with no "
                "goal of its own is measured against the company's.",
            )
        ),
        timeseries(
            "Lead to MQL week over week by source",
            Query(
                f"max by (source) (period_source:{catalog.DERIVED_LEAD_TO_MQL_WOW}{{{q.SOURCES}}})",
                "{{source}}",
            ),
            Query(
                f"-{q.source_target(catalog.TARGET_LEAD_TO_MQL_MAX_DROP)}",
                "largest drop {{source}}",
            ),
            overrides=(limit_override("/^largest drop .*/", regex=True),),
            unit="percentunit",
        ),
        row("Conversion by source"),
        *(
            bargauge(
                f"{title} by source",
                Query(_recorded(name, matchers), "{{source}}"),
                unit="percentunit",
                max=1,
                width=8,
            )
            for title, name, matchers in (
                ("Lead to MQL", catalog.DERIVED_CONVERSION, _LEAD_TO_MQL),
                ("MQL to SQL", catalog.DERIVED_CONVERSION, _MQL_TO_SQL),
                ("Win rate", catalog.DERIVED_WIN_RATE, ""),
            )
        ),
        bargauge(
            "MQL to SQL by score tier and source",
            Query(
                f"period_source:{catalog.DERIVED_TIER}{{{q.SELECTED}}}",
                "{{source}} · {{tier}}",
            ),
            unit="percentunit",
            max=1,
        ),
        bargauge(
            "Rejection reasons by source (share)",
            Query(
                f"period_source:leadflow_rejection_reason:ratio{{{q.SELECTED}}}",
                "{{source}} · {{reason}}",
            ),
            unit="percentunit",
            max=1,
        ),
    ]
    return dashboard(
        "leadflow-sources",
        "Leadflow / Per-source comparison",
        "The funnel's ratios per lead source, each against its own targets.",
        panels,
        variables.business(),
    )
