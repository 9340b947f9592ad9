"""Names, help texts and label sets of every series Leadflow exports.

One place, so the worker, `replay`, the recording rules and the dashboards agree.
"""

from __future__ import annotations

from dataclasses import dataclass

PERIOD_LABELS = ("period", "window", "period_start")
COMMON_LABELS = (*PERIOD_LABELS, "source")


@dataclass(frozen=True)
class Metric:
    name: str
    help: str
    labels: tuple[str, ...]  # beyond the common period/source labels


# The contract's additive gauges, summed over workers to get the true value.
STAGE_ENTRIES = Metric(
    "leadflow_stage_entries", "Leads whose entry into the stage falls in the period.", ("stage",)
)
COHORT_CONVERSIONS = Metric(
    "leadflow_cohort_conversions",
    "Leads that entered from_stage in the period and have entered to_stage at any time.",
    ("from_stage", "to_stage"),
)
STAGE_EXITS = Metric(
    "leadflow_stage_exits",
    "Leads that left the main stage in the period (by the entry into the next stage).",
    ("stage",),
)
STAGE_DWELL = Metric(
    "leadflow_stage_dwell_seconds",
    "Sum over the leads that left the stage in the period of the time they spent in it.",
    ("stage",),
)
REJECTIONS = Metric(
    "leadflow_rejections", "Rejected entries in the period by normalised reason.", ("reason",)
)
LOSSES = Metric("leadflow_losses", "Lost entries in the period by normalised reason.", ("reason",))
EXITS_BY_STAGE_REACHED = Metric(
    "leadflow_exits_by_stage_reached",
    "Rejected or lost entries in the period by the furthest funnel stage the lead reached.",
    ("outcome", "stage_reached"),
)

# Leadflow's own additive gauges (same rules: sum over workers, then divide).
RESPONSES = Metric(
    "leadflow_responses",
    "Leads whose first sales contact falls in the period, at or after their MQL entry.",
    (),
)
RESPONSE_SECONDS = Metric(
    "leadflow_response_seconds",
    "Sum over those leads of (first contact - MQL entry).",
    (),
)
TIER_MQLS = Metric(
    "leadflow_tier_mqls",
    "MQL entries in the period by the lead's score tier at its MQL entry.",
    ("tier",),
)
TIER_SQLS = Metric(
    "leadflow_tier_sqls",
    "Of those MQLs, the leads that have entered sql at any time (cohort).",
    ("tier",),
)
WON_AMOUNT = Metric(
    "leadflow_won_amount", "Sum of deal amounts won in the period (as sent on deal.won).", ()
)

# Pipeline velocity (issue 10): opportunities that close, by outcome. See
# projections/pipeline_velocity.py and the README's metric catalogue.
PIPELINE_CLOSES = Metric(
    "leadflow_pipeline_closes",
    "Opportunities closed (won or lost, the earlier) in the period, by outcome and the "
    "furthest pipeline sub-stage entered before the close.",
    ("outcome", "stage_reached"),
)
PIPELINE_STAGE_EXITS = Metric(
    "leadflow_pipeline_stage_exits",
    "Opportunities closed in the period that spent time in the pipeline sub-stage.",
    ("outcome", "pipeline_stage"),
)
PIPELINE_STAGE_DWELL = Metric(
    "leadflow_pipeline_stage_dwell_seconds",
    "Sum over those opportunities of the time spent in the pipeline sub-stage.",
    ("outcome", "pipeline_stage"),
)
PIPELINE_STAGE_DWELL_BUCKET = Metric(
    "leadflow_pipeline_stage_dwell_seconds_bucket",
    "Of those opportunities, the ones that spent at most `le` seconds in the sub-stage "
    "(cumulative, for histogram_quantile).",
    ("outcome", "pipeline_stage", "le"),
)

ADDITIVE_METRICS: tuple[Metric, ...] = (
    STAGE_ENTRIES,
    COHORT_CONVERSIONS,
    STAGE_EXITS,
    STAGE_DWELL,
    REJECTIONS,
    LOSSES,
    EXITS_BY_STAGE_REACHED,
    RESPONSES,
    RESPONSE_SECONDS,
    TIER_MQLS,
    TIER_SQLS,
    WON_AMOUNT,
    PIPELINE_CLOSES,
    PIPELINE_STAGE_EXITS,
    PIPELINE_STAGE_DWELL,
    PIPELINE_STAGE_DWELL_BUCKET,
)

# Point-in-time gauges over open leads (no period labels): additive across workers.
OPEN_LEADS = Metric(
    "leadflow_open_leads", "Open leads (no exit yet) by the stage they are in now.", ("stage",)
)
STALLED_LEADS = Metric(
    "leadflow_stalled_leads",
    "Open leads that have been in their current stage longer than its maximum dwell.",
    ("stage",),
)
OPEN_OPPORTUNITIES = Metric(
    "leadflow_open_opportunities",
    "Open opportunities by their latest pipeline sub-stage ('none' before the first).",
    ("pipeline_stage",),
)
OPEN_PIPELINE_AMOUNT = Metric(
    "leadflow_open_pipeline_amount",
    "Sum of amounts of open opportunities by pipeline sub-stage.",
    ("pipeline_stage",),
)
POINT_IN_TIME_METRICS = (OPEN_LEADS, STALLED_LEADS, OPEN_OPPORTUNITIES, OPEN_PIPELINE_AMOUNT)

# Configuration exported as series so rules compare against it without edits.
PERIOD_PROGRESS = "leadflow_period_progress_ratio"
PERIOD_YEAR_BEFORE = "leadflow_period_year_before_info"
FUNNEL_STAGE_INFO = "leadflow_funnel_stage_info"
TARGET_RATIO = "leadflow_target_qualified_to_won_ratio"
TARGET_CLOSED_DEALS = "leadflow_target_closed_deals"
TARGET_MQL_TO_SQL_MIN = "leadflow_target_mql_to_sql_min_ratio"
TARGET_LEAD_TO_MQL_MAX_DROP = "leadflow_target_lead_to_mql_max_wow_drop_ratio"
TARGET_DWELL_MAX = "leadflow_target_stage_dwell_max_seconds"
TARGET_RESPONSE_MAX = "leadflow_target_response_max_seconds"
TARGET_PIPELINE_DWELL_MAX = "leadflow_target_pipeline_stage_dwell_max_seconds"

# Derived series: the recording rules' names (level:metric:operation), which
# `replay` prints too so the two can be compared line by line.
LEVEL_SOURCE = "period_source"
LEVEL_ALL = "period"
DERIVED_CONVERSION = "leadflow_conversion:ratio"
DERIVED_QUALIFIED_TO_WON = "leadflow_qualified_to_won:ratio"
DERIVED_RATIO_BAND = "leadflow_qualified_to_won:band_position"
DERIVED_LEAD_TO_CLOSE = "leadflow_lead_to_close:ratio"
DERIVED_WIN_RATE = "leadflow_win:ratio"
DERIVED_DWELL = "leadflow_stage_dwell_seconds:avg"
DERIVED_RESPONSE = "leadflow_response_seconds:avg"
DERIVED_TIER = "leadflow_mql_to_sql_by_tier:ratio"
DERIVED_PACE = "leadflow_qualified_pace:ratio"
DERIVED_LEAD_TO_MQL_WOW = "leadflow_lead_to_mql_wow_change:ratio"
DERIVED_PIPELINE_DWELL = "leadflow_pipeline_stage_dwell_seconds:avg"


def derived_name(level: str, metric: str) -> str:
    return f"{level}:{metric}"
