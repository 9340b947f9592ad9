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

# Breakdowns (issue 10): stage entries again, keyed by the campaign or segment of the
# lead's earliest lead.created (bounded by funnel.breakdowns; "other", "unknown").
CAMPAIGN_STAGE_ENTRIES = Metric(
    "leadflow_campaign_stage_entries",
    "Leads whose entry into the stage falls in the period, by the lead's campaign.",
    ("campaign", "stage"),
)
SEGMENT_STAGE_ENTRIES = Metric(
    "leadflow_segment_stage_entries",
    "Leads whose entry into the stage falls in the period, by the lead's segment.",
    ("segment", "stage"),
)
BREAKDOWN_ENTRIES = {"campaign": CAMPAIGN_STAGE_ENTRIES, "segment": SEGMENT_STAGE_ENTRIES}

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
    CAMPAIGN_STAGE_ENTRIES,
    SEGMENT_STAGE_ENTRIES,
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
# The evidence policy: the z score of the configured interval level, and the fewest
# trials (e.g. qualified leads) a business alert may conclude from.
EVIDENCE_Z = "leadflow_evidence_z_score"
EVIDENCE_MIN_COUNT = "leadflow_evidence_min_count"

# Derived series: the recording rules' names (level:metric:operation), which
# `replay` prints too so the two can be compared line by line.
LEVEL_SOURCE = "period_source"
LEVEL_ALL = "period"
LEVELS = (LEVEL_SOURCE, LEVEL_ALL)
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
DERIVED_QUALIFIED_TO_WON_BY_CAMPAIGN = "leadflow_qualified_to_won_by_campaign:ratio"
DERIVED_QUALIFIED_TO_WON_BY_SEGMENT = "leadflow_qualified_to_won_by_segment:ratio"


def derived_name(level: str, metric: str) -> str:
    return f"{level}:{metric}"


def sum_name(level: str, metric: Metric) -> str:
    """The recording rule that sums an additive family over workers at `level`."""
    return f"{level}:{metric.name}:sum"


# ---------------------------------------------------------------- derived series
# Each ratio below is declared once. From the declaration, `replay` computes it
# (projections/derived.py), the recording rules are generated (dashboards/recording.py,
# `make generate`), and the dashboards divide the same sums over any selection of
# sources (dashboards/promql.py). Adding a ratio of existing sums is one entry here.


@dataclass(frozen=True)
class Select:
    """An additive family summed over workers, narrowed to fixed values of some labels.

    The fixed labels are dropped; the family's other labels are kept, so `Select(
    STAGE_DWELL)` keeps `stage` while `entries("won")` keeps none.
    """

    metric: Metric
    match: tuple[tuple[str, str], ...] = ()
    # Entries into the configured qualified stage: the stage is configuration, so
    # the rules read it from the workers' leadflow_funnel_stage_info series.
    qualified: bool = False

    @property
    def kept(self) -> tuple[str, ...]:
        fixed = {name for name, _ in self.match}
        if self.qualified:
            fixed.add("stage")
        return tuple(label for label in self.metric.labels if label not in fixed)


def entries(stage: str) -> Select:
    return Select(STAGE_ENTRIES, (("stage", stage),))


def cohort(start: str, end: str) -> Select:
    return Select(COHORT_CONVERSIONS, (("from_stage", start), ("to_stage", end)))


QUALIFIED_ENTRIES = Select(STAGE_ENTRIES, qualified=True)
# Recorded helper: entries into the qualified stage, keeping the stage label.
QUALIFIED_ENTRIES_SUM = "leadflow_qualified_entries"


@dataclass(frozen=True)
class Ratio:
    """`numerator / sum(denominator)` over the totals of one period (and source).

    It exists exactly when its denominator is non-zero; a missing numerator counts as
    0. Numerator and denominator keep the same labels, and the ratio keeps them too.
    `labels` are constant labels that tell variants of one name apart.
    """

    name: str
    numerator: Select
    denominator: tuple[Select, ...]
    labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        kept = {self.numerator.kept, *(select.kept for select in self.denominator)}
        if len(kept) != 1:
            raise ValueError(f"{self.name}: numerator and denominator keep different labels")
        if not 1 <= len(self.denominator) <= 2:
            raise ValueError(f"{self.name}: a denominator sums one or two selections")

    @property
    def kept(self) -> tuple[str, ...]:
        return self.numerator.kept


@dataclass(frozen=True)
class Interval:
    """A Wilson score interval for a ratio whose counts are a share of trials.

    `successes` of `trials` is the proportion tested against the target; a ratio that
    is its inverse (qualified leads per won deal) gets the inverted bounds. Recorded
    as `<ratio name minus :ratio>:wilson_lower|upper`, on the ratio's scale.
    """

    ratio: Ratio
    successes: Select
    trials: tuple[Select, ...]
    inverse: bool = False

    @property
    def lower(self) -> str:
        return self.ratio.name.removesuffix(":ratio") + ":wilson_lower"

    @property
    def upper(self) -> str:
        return self.ratio.name.removesuffix(":ratio") + ":wilson_upper"

    @property
    def trials_name(self) -> str:
        return self.ratio.name.removesuffix(":ratio") + ":wilson_trials"


# The funnel's steps. The qualified stage's own step to won is added per config.
MAIN_PAIRS = (
    ("lead", "mql"),
    ("mql", "sql"),
    ("sql", "opportunity"),
    ("opportunity", "won"),
    ("lead", "won"),
)


def conversion(start: str, end: str, basis: str) -> Ratio:
    """basis="period": entries into `end` / entries into `start`, same period.
    basis="cohort": of the leads that entered `start` in the period, the share that
    has entered `end` at any time."""
    numerator = entries(end) if basis == "period" else cohort(start, end)
    labels = (("from_stage", start), ("to_stage", end), ("basis", basis))
    return Ratio(DERIVED_CONVERSION, numerator, (entries(start),), labels)


QUALIFIED_TO_WON = Ratio(DERIVED_QUALIFIED_TO_WON, QUALIFIED_ENTRIES, (entries("won"),))
MQL_TO_SQL = conversion("mql", "sql", "period")
WIN_RATE = Ratio(DERIVED_WIN_RATE, entries("won"), (entries("won"), entries("lost")))
LEAD_TO_CLOSE = Ratio(
    DERIVED_LEAD_TO_CLOSE, entries("won"), (entries("lead"),), (("basis", "period"),)
)
# Average time in a stage of the leads that left it in the period.
DWELL_AVG = Ratio(DERIVED_DWELL, Select(STAGE_DWELL), (Select(STAGE_EXITS),))
# Average time from MQL entry to the first sales contact.
RESPONSE_AVG = Ratio(DERIVED_RESPONSE, Select(RESPONSE_SECONDS), (Select(RESPONSES),))
# Cohort MQL -> SQL of the MQLs of each score tier.
TIER_MQL_TO_SQL = Ratio(DERIVED_TIER, Select(TIER_SQLS), (Select(TIER_MQLS),))
# Average time in a pipeline sub-stage of the opportunities closed in the period, by
# outcome ("winning deals move faster than losing deals").
PIPELINE_DWELL_AVG = Ratio(
    DERIVED_PIPELINE_DWELL, Select(PIPELINE_STAGE_DWELL), (Select(PIPELINE_STAGE_EXITS),)
)

# Qualified leads per won deal for each campaign and each segment (the lead's own).
QUALIFIED_TO_WON_BY = {
    breakdown: Ratio(name, Select(metric, qualified=True), (Select(metric, (("stage", "won"),)),))
    for breakdown, metric, name in (
        ("campaign", CAMPAIGN_STAGE_ENTRIES, DERIVED_QUALIFIED_TO_WON_BY_CAMPAIGN),
        ("segment", SEGMENT_STAGE_ENTRIES, DERIVED_QUALIFIED_TO_WON_BY_SEGMENT),
    )
}

RATIOS: tuple[Ratio, ...] = (
    *(conversion(start, end, basis) for basis in ("period", "cohort") for start, end in MAIN_PAIRS),
    QUALIFIED_TO_WON,
    LEAD_TO_CLOSE,
    Ratio(DERIVED_LEAD_TO_CLOSE, cohort("lead", "won"), (entries("lead"),), (("basis", "cohort"),)),
    WIN_RATE,
    DWELL_AVG,
    RESPONSE_AVG,
    TIER_MQL_TO_SQL,
    PIPELINE_DWELL_AVG,
    *QUALIFIED_TO_WON_BY.values(),
    # Share of the period's MQL entries that sales rejected in the same period.
    Ratio("leadflow_mql_rejection:ratio", entries("rejected"), (entries("mql"),)),
)

INTERVALS: tuple[Interval, ...] = (
    Interval(QUALIFIED_TO_WON, entries("won"), (QUALIFIED_ENTRIES,), inverse=True),
    Interval(MQL_TO_SQL, entries("sql"), (entries("mql"),)),
    Interval(WIN_RATE, entries("won"), (entries("won"), entries("lost"))),
)

# ---------------------------------------------------------------- milestone breaches
# Issue 14 (per-lead milestone alerts). Point in time, no period labels, no lead
# labels: open breaches at the worker's clock, by source, score tier, stage (mql,
# or the pipeline sub-stage) and rule (response, pipeline_stage). Each worker counts
# the leads it owns; sum over workers. Not in POINT_IN_TIME_METRICS: those are
# compared with `replay` at day resolution, this one moves with the wall clock.
MILESTONE_BREACHES = Metric(
    "leadflow_milestone_breaches",
    "Open per-lead milestone breaches (overdue first contacts, deals stuck in a "
    "pipeline stage) at the worker's clock.",
    ("source", "tier", "stage", "rule"),
)
