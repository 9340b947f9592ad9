"""Velocity: time in each stage, cycle time, stalled leads, response time, open
pipeline."""

from __future__ import annotations

from dashboards import promql as q
from dashboards import variables
from dashboards.builder import (
    JSON,
    Query,
    barchart,
    bargauge,
    dashboard,
    row,
    stat,
    timeseries,
)
from projections import catalog

_RESPONSES = "period_source:leadflow_responses:sum"
_RESPONSE_SECONDS = "period_source:leadflow_response_seconds:sum"
LEAVABLE = ("lead", "mql", "sql", "opportunity")
_PIPELINE_DWELL = f"period_source:{catalog.PIPELINE_STAGE_DWELL.name}:sum"
_PIPELINE_BUCKETS = f"period_source:{catalog.PIPELINE_STAGE_DWELL_BUCKET.name}:sum"
_PIPELINE_CLOSES = f"period_source:{catalog.PIPELINE_CLOSES.name}:sum"
_BY_OUTCOME = "outcome, pipeline_stage"


def _avg_dwell(by: str = "stage") -> str:
    return q.derived(catalog.DWELL_AVG, by=by)


def _pipeline_quantile(share: float) -> str:
    return f"histogram_quantile({share}, {q.total(_PIPELINE_BUCKETS, by=f'le, {_BY_OUTCOME}')})"


def _point_in_time(metric: str, by: str) -> str:
    return f"sum by ({by}) ({metric}{{{q.SOURCES}}})"


def build() -> JSON:
    panels = [
        row("Time in stage"),
        bargauge(
            "Average dwell per stage vs maximum",
            Query(_avg_dwell(), "{{stage}}"),
            Query(
                f"max by (stage) ({catalog.TARGET_DWELL_MAX}{{{q.NO_SOURCE}}})",
                "max {{stage}}",
            ),
            unit="s",
            description="Average time in the stage of the leads that left it in the period, "
            "and the company-wide maximum per stage.",
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
        barchart(
            "Average dwell per stage by period",
            *(
                Query(
                    q.derived(
                        catalog.DWELL_AVG,
                        by="period_start",
                        selection=q.join(f'stage="{stage}"', q.KEPT),
                    ),
                    stage,
                )
                for stage in LEAVABLE
            ),
            unit="s",
            width=24,
            description="Each kept period of the selected kind: average time in the stage "
            "of the leads that left it in the period.",
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
        row("Won vs lost: days per pipeline stage"),
        bargauge(
            "Won vs lost: average days per pipeline stage",
            Query(q.derived(catalog.PIPELINE_DWELL_AVG), "{{outcome}} · {{pipeline_stage}}"),
            Query(q.company_target(catalog.TARGET_PIPELINE_DWELL_MAX), "maximum"),
            unit="s",
            width=8,
            description="Opportunities closed in the period, won and lost apart: average time "
            "in each pipeline sub-stage until the next one (the last one until the close). "
            "Winning deals usually move faster.",
        ),
        *(
            bargauge(
                f"Won vs lost: {title} days per pipeline stage",
                Query(_pipeline_quantile(quantile), "{{outcome}} · {{pipeline_stage}}"),
                unit="s",
                width=8,
                description=description,
            )
            for title, quantile, description in (
                (
                    "median",
                    0.5,
                    "From the cumulative dwell buckets (1, 3, 7, 14, 30, 60, 90 days), "
                    "interpolated within a bucket by histogram_quantile.",
                ),
                (
                    "90th percentile",
                    0.9,
                    "Nine in ten closed opportunities spent at most this long in the "
                    "sub-stage (beyond 90 days the bucket bound is shown).",
                ),
            )
        ),
        bargauge(
            "Furthest pipeline stage reached before the close",
            Query(
                q.total(_PIPELINE_CLOSES, by="outcome, stage_reached"),
                "{{outcome}} after {{stage_reached}}",
            ),
            description="Opportunities closed in the period by outcome and the furthest "
            "pipeline sub-stage they entered before closing ('none': no stage change).",
        ),
        barchart(
            "Won vs lost: average days in the pipeline by period",
            *(
                Query(
                    q.ratio(
                        q.per_period(_PIPELINE_DWELL, f'outcome="{outcome}"'),
                        q.per_period(_PIPELINE_CLOSES, f'outcome="{outcome}"'),
                    ),
                    outcome,
                )
                for outcome in ("won", "lost")
            ),
            unit="s",
            description="Each kept period of the selected kind: time from the first pipeline "
            "sub-stage to the close, averaged over the opportunities closed in the period "
            "(those with no stage change count as 0).",
        ),
        row("Response to MQLs"),
        barchart(
            "Average response time by period vs SLA",
            Query(q.ratio(q.per_period(_RESPONSE_SECONDS), q.per_period(_RESPONSES)), "response"),
            Query(
                q.per_period_level(
                    q.per_period(_RESPONSES), q.company_target(catalog.TARGET_RESPONSE_MAX)
                ),
                "SLA",
            ),
            unit="s",
            description="Average time from MQL entry to the first sales contact, for the "
            "contacts made in each kept period of the selected kind.",
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
