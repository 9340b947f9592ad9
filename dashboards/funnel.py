"""Funnel overview: entries per stage, conversion, the qualified-to-won ratio against
its target band, and pacing against the closed-deal goal."""

from __future__ import annotations

from dashboards import promql as q
from dashboards import variables
from dashboards.builder import (
    JSON,
    Query,
    band_overrides,
    bargauge,
    dashboard,
    limit_override,
    row,
    stat,
    threshold_line,
    timeseries,
)
from projections import catalog

STAGES = ("lead", "mql", "sql", "opportunity", "won", "lost", "rejected")
PAIRS = (("lead", "mql"), ("mql", "sql"), ("sql", "opportunity"), ("opportunity", "won"))
# Pace below 90 % of the goal's needs shows red, from 100 % green.
PACE_COLOURS = ((None, "red"), (0.9, "orange"), (1.0, "green"))
_RATIO_INTERVAL = next(i for i in catalog.INTERVALS if i.ratio == catalog.QUALIFIED_TO_WON)


def build() -> JSON:
    panels = [
        row("This period, selected sources"),
        stat(
            "Qualified leads",
            Query(q.qualified()),
            description="Entries into the qualified stage (configured; SQL by default).",
        ),
        stat("Won deals", Query(q.entries("won"))),
        stat(
            "Qualified-to-won ratio",
            Query(q.derived(catalog.QUALIFIED_TO_WON)),
            decimals=2,
            description="Qualified leads per won deal in the period. Target band: see below.",
        ),
        stat(
            "Pace vs closed-deal goal",
            Query(q.pace()),
            unit="percentunit",
            thresholds=PACE_COLOURS,
            description="Qualified leads so far / (company closed-deal goal x target ratio x "
            "share of the period gone). 100 % is on pace. Per-source goals: Per-source "
            "comparison.",
        ),
        stat(
            "Win rate",
            Query(q.derived(catalog.WIN_RATE)),
            unit="percentunit",
            description="Won / (won + lost) in the period.",
        ),
        stat("Lead to close", Query(q.derived(catalog.LEAD_TO_CLOSE)), unit="percentunit"),
        stat("Won amount", Query(q.total("period_source:leadflow_won_amount:sum"))),
        stat(
            "MQL to SQL",
            Query(q.derived(catalog.MQL_TO_SQL)),
            unit="percentunit",
        ),
        row("Funnel"),
        bargauge(
            "Entries per stage",
            *(Query(q.entries(stage), stage) for stage in STAGES),
            description="Leads whose entry into the stage falls in the period.",
        ),
        bargauge(
            "Stage conversion, period basis",
            *(
                Query(q.derived(catalog.conversion(start, end, "period")), f"{start} → {end}")
                for start, end in (*PAIRS, ("lead", "won"))
            ),
            unit="percentunit",
            max=1,
            description="Entries into the later stage / entries into the earlier stage, "
            "same period (mixes cohorts, but is final as soon as the period ends).",
        ),
        bargauge(
            "Stage conversion, cohort basis",
            Query(_cohort_conversion(), "{{from_stage}} → {{to_stage}}"),
            unit="percentunit",
            max=1,
            description="Of the leads that entered the earlier stage in the period, the share "
            "that has reached the later one so far (keeps rising while the cohort matures).",
        ),
        bargauge(
            "MQL to SQL by score tier",
            Query(
                q.derived(catalog.TIER_MQL_TO_SQL),
                "{{tier}}",
            ),
            unit="percentunit",
            max=1,
            description="Cohort MQL to SQL by the lead's score tier when it became an MQL: "
            "checks that the scoring model predicts acceptance.",
        ),
        row("Qualified-leads-to-sales ratio and pace"),
        timeseries(
            "Qualified-to-won ratio vs target band",
            Query(
                q.derived(catalog.QUALIFIED_TO_WON, by="period_start"),
                "ratio {{period_start}}",
            ),
            Query(q.interval(_RATIO_INTERVAL, "lower", by="period_start"), "interval low"),
            Query(q.interval(_RATIO_INTERVAL, "upper", by="period_start"), "interval high"),
            Query(q.ratio_target("upper"), "band upper"),
            Query(q.ratio_target("lower"), "band lower"),
            Query(q.ratio_target("target"), "target"),
            overrides=band_overrides("band upper", "band lower", "target"),
            decimals=2,
            description="Interval: the range the true ratio lies in at the configured evidence "
            "level (80 % by default); alerts fire only when all of it is off target. "
            "Above the band: qualified leads pile up faster than sales closes "
            "(capacity, cycle length, competition, offer fit). Below: the pipeline is not "
            "being refilled. Band: company-wide targets.",
        ),
        threshold_line(
            timeseries(
                "Pace vs closed-deal goal",
                Query(q.pace(by="period_start"), "pace {{period_start}}"),
                unit="percentunit",
                thresholds=PACE_COLOURS,
                description="1 = qualified leads arrive exactly as fast as the company "
                "closed-deal goal at the target ratio needs.",
            )
        ),
        timeseries(
            "MQL to SQL vs minimum",
            Query(
                q.derived(catalog.MQL_TO_SQL, by="period_start"),
                "MQL to SQL {{period_start}}",
            ),
            Query(q.company_target(catalog.TARGET_MQL_TO_SQL_MIN), "minimum"),
            overrides=(limit_override("minimum"),),
            unit="percentunit",
            description="Below the minimum, marketing and sales disagree on lead quality or "
            "the hand-off is failing.",
        ),
        timeseries(
            "Lead to MQL, week over week",
            Query(_lead_to_mql_week_over_week(), "change"),
            Query(
                f"-{q.company_target(catalog.TARGET_LEAD_TO_MQL_MAX_DROP)}",
                "largest tolerated drop",
            ),
            overrides=(limit_override("largest tolerated drop"),),
            unit="percentunit",
            description="This week's lead to MQL rate against last week's (period basis).",
        ),
        timeseries(
            "Entries per stage over time",
            Query(q.total(q.ENTRIES, by="stage"), "{{stage}}"),
            width=24,
        ),
        row("Why leads drop out"),
        bargauge(
            "Rejection reasons",
            Query(q.total("period_source:leadflow_rejections:sum", by="reason"), "{{reason}}"),
            width=8,
        ),
        bargauge(
            "Loss reasons",
            Query(q.total("period_source:leadflow_losses:sum", by="reason"), "{{reason}}"),
            width=8,
        ),
        bargauge(
            "Furthest stage reached before exit",
            Query(
                q.total(
                    "period_source:leadflow_exits_by_stage_reached:sum",
                    by="outcome, stage_reached",
                ),
                "{{outcome}} after {{stage_reached}}",
            ),
            width=8,
        ),
    ]
    return dashboard(
        "leadflow-funnel",
        "Leadflow / Funnel overview",
        "Lead funnel for the selected sources and period: volume per stage, conversion, "
        "the qualified-leads-to-sales ratio against its target band, and pacing.",
        panels,
        variables.business(),
    )


def _cohort_conversion() -> str:
    # Every pair the workers export; the denominator is the from_stage's entries.
    return (
        f"{q.total('period_source:leadflow_cohort_conversions:sum', by='from_stage, to_stage')}\n"
        "/ on (from_stage) group_left ()\n"
        f'label_replace({q.total(q.ENTRIES, by="stage")}, "from_stage", "$1", "stage", "(.+)")'
    )


def _lead_to_mql_week_over_week() -> str:
    def rate(window: str) -> str:
        selector = f'source=~"$source", period="week", window="{window}"'
        return (
            f'(sum({q.ENTRIES}{{stage="mql", {selector}}})'
            f' / sum({q.ENTRIES}{{stage="lead", {selector}}}))'
        )

    return f"{rate('current')}\n/\n{rate('previous')} - 1"
