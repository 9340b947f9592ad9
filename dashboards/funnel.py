"""Funnel overview: entries per stage, conversion, the qualified-to-won ratio against
its target band, and pacing against the closed-deal goal."""

from __future__ import annotations

from dashboards import promql as q
from dashboards import variables
from dashboards.builder import (
    JSON,
    Query,
    barchart,
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
        barchart(
            "Qualified-to-won ratio by period vs target",
            Query(
                q.derived(catalog.QUALIFIED_TO_WON, by="period_start", selection=q.KEPT), "ratio"
            ),
            Query(
                q.interval(_RATIO_INTERVAL, "lower", by="period_start", selection=q.KEPT),
                "interval low",
            ),
            Query(
                q.interval(_RATIO_INTERVAL, "upper", by="period_start", selection=q.KEPT),
                "interval high",
            ),
            Query(q.per_period_level(_won_by_period(), q.ratio_target("target")), "target"),
            decimals=2,
            description="Each kept period of the selected kind (current, previous and the "
            "configured history): qualified leads per won deal. Above the company band "
            "(see the sources board for bounds) qualified leads pile up faster than sales "
            "closes (capacity, cycle length, competition, offer fit); below it the pipeline "
            "is not being refilled. Interval: the range the true ratio lies in at the configured "
            "evidence level (80 % by default); alerts fire only when all of it is off target.",
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
        barchart(
            "MQL to SQL by period vs minimum",
            Query(
                q.derived(catalog.MQL_TO_SQL, by="period_start", selection=q.KEPT),
                "MQL to SQL",
            ),
            Query(
                q.per_period_level(
                    _mqls_by_period(), q.company_target(catalog.TARGET_MQL_TO_SQL_MIN)
                ),
                "minimum",
            ),
            unit="percentunit",
            description="Each kept period of the selected kind. Below the minimum, "
            "marketing and sales disagree on lead quality or the hand-off is failing.",
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
        barchart(
            "Entries per stage by period",
            *(Query(q.per_period(q.ENTRIES, f'stage="{stage}"'), stage) for stage in STAGES),
            width=24,
            description="Every kept period of the selected kind, complete as soon as the "
            "workers have folded the history (a backfill or an import).",
        ),
        row("This period, the previous one and the same period a year before"),
        bargauge(
            "Qualified leads and won deals",
            *_compared("qualified", q.QUALIFIED),
            *_compared("won", q.ENTRIES, 'stage="won"'),
            description="The current period of the selected kind, the previous one and "
            "the one a year before the current (12 months, 4 quarters; needs a history "
            "of at least a year for that kind, see funnel.history).",
        ),
        bargauge(
            "Qualified-to-won ratio",
            Query(
                q.ratio(
                    q.window_total(q.QUALIFIED, "", "current"),
                    q.window_total(q.ENTRIES, 'stage="won"', "current"),
                ),
                "this period",
            ),
            Query(
                q.ratio(
                    q.window_total(q.QUALIFIED, "", "previous"),
                    q.window_total(q.ENTRIES, 'stage="won"', "previous"),
                ),
                "previous",
            ),
            Query(
                q.ratio(
                    q.year_before_total(q.QUALIFIED),
                    q.year_before_total(q.ENTRIES, 'stage="won"'),
                ),
                "a year before",
            ),
            decimals=2,
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


def _mqls_by_period() -> str:
    return q.per_period(q.ENTRIES, 'stage="mql"')


def _won_by_period() -> str:
    return q.per_period(q.ENTRIES, 'stage="won"')


def _compared(name: str, metric: str, matchers: str = "") -> tuple[Query, ...]:
    return (
        Query(q.window_total(metric, matchers, "current"), f"{name}, this period"),
        Query(q.window_total(metric, matchers, "previous"), f"{name}, previous"),
        Query(q.year_before_total(metric, matchers), f"{name}, a year before"),
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
