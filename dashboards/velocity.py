"""Velocity: time in each stage, cycle time, stalled leads, response time, open
pipeline."""

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
    stat,
    timeseries,
)
from projections import catalog


def _avg_dwell(by: str = "stage") -> str:
    return q.derived(catalog.DWELL_AVG, by=by)


def _point_in_time(metric: str, by: str) -> str:
    return f"sum by ({by}) ({metric}{{{q.SOURCES}}})"


def build() -> JSON:
    response = q.derived(catalog.RESPONSE_AVG, by="period_start")
    panels = [
        row("Time in stage"),
        bargauge(
            "Average dwell per stage",
            Query(_avg_dwell(), "{{stage}}"),
            unit="s",
            description="Average time in the stage of the leads that left it in the period.",
        ),
        stat(
            "Approximate cycle time",
            Query(f"sum({_avg_dwell()})"),
            unit="s",
            width=12,
            height=8,
            description="Sum of the average dwell in lead, MQL, SQL and opportunity: how long "
            "a lead that goes the whole way typically takes.",
        ),
        timeseries(
            "Average dwell per stage vs maximum",
            Query(_avg_dwell(), "{{stage}}"),
            Query(
                f"max by (stage) ({catalog.TARGET_DWELL_MAX}{{{q.NO_SOURCE}}})",
                "max {{stage}}",
            ),
            overrides=(limit_override("/^max .*/", regex=True),),
            unit="s",
            width=24,
            description="Dashed: the company-wide maximum dwell per stage.",
        ),
        row("Stalled and open leads (now)"),
        bargauge(
            "Stalled open leads by stage",
            Query(_point_in_time(catalog.STALLED_LEADS.name, "stage"), "{{stage}}"),
            width=8,
            description="Open leads in the stage for longer than its maximum dwell.",
        ),
        bargauge(
            "Stalled share of open leads",
            Query(
                q.ratio(
                    _point_in_time(catalog.STALLED_LEADS.name, "stage"),
                    _point_in_time(catalog.OPEN_LEADS.name, "stage"),
                ),
                "{{stage}}",
            ),
            unit="percentunit",
            max=1,
            width=8,
        ),
        bargauge(
            "Open leads by stage",
            Query(_point_in_time(catalog.OPEN_LEADS.name, "stage"), "{{stage}}"),
            width=8,
        ),
        timeseries(
            "Stalled open leads over time",
            Query(_point_in_time(catalog.STALLED_LEADS.name, "stage"), "{{stage}}"),
        ),
        bargauge(
            "Open opportunities and amount by pipeline stage",
            Query(
                _point_in_time(catalog.OPEN_OPPORTUNITIES.name, "pipeline_stage"),
                "{{pipeline_stage}} (count)",
            ),
            Query(
                _point_in_time(catalog.OPEN_PIPELINE_AMOUNT.name, "pipeline_stage"),
                "{{pipeline_stage}} (amount)",
            ),
        ),
        row("Response to MQLs"),
        timeseries(
            "Average response time vs SLA",
            Query(response, "response {{period_start}}"),
            Query(q.company_target(catalog.TARGET_RESPONSE_MAX), "SLA"),
            overrides=(limit_override("SLA"),),
            unit="s",
            description="Average time from MQL entry to the first sales contact, for the "
            "contacts made in the period.",
        ),
        bargauge(
            "Average response time by source",
            Query(
                f"max by (source) (period_source:{catalog.DERIVED_RESPONSE}{{{q.SELECTED}}})",
                "{{source}}",
            ),
            unit="s",
        ),
    ]
    return dashboard(
        "leadflow-velocity",
        "Leadflow / Velocity",
        "How fast leads move: dwell per stage, cycle time, stalled leads, response time.",
        panels,
        variables.business(),
    )
