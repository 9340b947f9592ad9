"""Campaigns and segments: the funnel and the qualified-to-won ratio per campaign and
per segment of the selected sources (funnel.breakdowns bounds the values)."""

from __future__ import annotations

from dashboards import promql as q
from dashboards import variables
from dashboards.builder import JSON, Panel, Query, bargauge, dashboard, row, table
from dashboards.funnel import STAGES
from projections import catalog

TITLES = {"campaign": "Campaign", "segment": "Segment"}


def _selected(breakdown: str) -> str:
    """The selected sources, period, window and values of the breakdown."""
    return f'{q.SELECTED}, {breakdown}=~"${breakdown}"'


def _entries(breakdown: str, stage: str, *, by: str = "") -> str:
    recorded = catalog.sum_name(catalog.LEVEL_SOURCE, catalog.BREAKDOWN_ENTRIES[breakdown])
    selector = f'{recorded}{{stage="{stage}", {_selected(breakdown)}}}'
    return f"sum by ({by}) ({selector})" if by else f"sum({selector})"


def _ratio(breakdown: str) -> str:
    return q.derived(catalog.QUALIFIED_TO_WON_BY[breakdown], selection=_selected(breakdown))


def _panels(breakdown: str) -> list[Panel]:
    title = TITLES[breakdown]
    columns = {breakdown: title} | {
        f"Value #{chr(ord('A') + n)}": stage for n, stage in enumerate(STAGES)
    }
    columns[f"Value #{chr(ord('A') + len(STAGES))}"] = "Qualified / won"
    return [
        row(f"By {breakdown}"),
        table(
            f"Funnel by {breakdown}",
            *(Query(_entries(breakdown, stage, by=breakdown), table=True) for stage in STAGES),
            Query(_ratio(breakdown), table=True),
            columns=columns,
            width=24,
            description=f"Entries per stage in the period of the leads of each {breakdown} "
            f"(the {breakdown} of the lead's earliest lead.created; values beyond "
            "funnel.breakdowns are `other`, leads without one `unknown`), and qualified "
            "leads per won deal.",
        ),
        bargauge(
            f"Entries per stage, selected {breakdown}s",
            *(Query(_entries(breakdown, stage), stage) for stage in STAGES),
            description=f"The funnel of the selected sources and {breakdown}s together.",
        ),
        bargauge(
            f"Qualified-to-won ratio by {breakdown}",
            Query(_ratio(breakdown), f"{{{{{breakdown}}}}}"),
            decimals=2,
            description=f"Entries into the qualified stage (configured; SQL by default) per "
            f"won deal in the period, for each {breakdown}; none where nothing was won.",
        ),
    ]


def build() -> JSON:
    return dashboard(
        "leadflow-breakdowns",
        "Leadflow / Campaigns and segments",
        "The funnel and the qualified-to-won ratio per campaign and per segment.",
        [*_panels("campaign"), *_panels("segment")],
        [*variables.business(), *variables.breakdowns()],
    )
