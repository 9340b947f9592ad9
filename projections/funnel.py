"""The funnel definition and its targets: what the YAML config file describes.

Pure pydantic models; reading the file is the CLI's job (`leadflow.config`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from events import LEAVABLE_STAGES, Stage, Vocabulary
from events.types import QUALIFIABLE_STAGES
from events.vocabulary import Duration
from projections import catalog
from projections.business_hours import BusinessHours
from projections.evidence import Evidence
from projections.periods import PeriodKind

Share = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RatioBand(_Strict):
    """The qualified-leads-to-sales ratio target and the band around it that is healthy."""

    target: Positive = 5.0
    lower: Positive = 4.0
    upper: Positive = 6.0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.lower <= self.target <= self.upper:
            raise ValueError(
                f"need lower <= target <= upper, got {self.lower} / {self.target} / {self.upper}"
            )
        return self


def _default_closed_deals() -> dict[PeriodKind, float]:
    # 50 closed deals a month is the domain's worked example; the others follow from it.
    return {PeriodKind.DAY: 2.5, PeriodKind.WEEK: 12, PeriodKind.MONTH: 50, PeriodKind.QUARTER: 150}


def _default_dwell() -> dict[Stage, timedelta]:
    return {
        Stage.LEAD: timedelta(days=14),
        Stage.MQL: timedelta(days=5),
        Stage.SQL: timedelta(days=21),
        Stage.OPPORTUNITY: timedelta(days=60),
    }


def _default_response_by_tier() -> dict[str, timedelta]:
    # A hot lead goes cold in hours: the domain's "five days before anyone reached out".
    return {"hot": timedelta(hours=1), "warm": timedelta(hours=24)}


def _default_pipeline_stage_max() -> dict[str, timedelta]:
    return {
        "discovery": timedelta(days=14),
        "demo": timedelta(days=14),
        "proposal": timedelta(days=21),
        "negotiation": timedelta(days=30),
    }


def _leavable_only(dwell: dict[Stage, timedelta]) -> dict[Stage, timedelta]:
    wrong = sorted(str(stage) for stage in set(dwell) - set(LEAVABLE_STAGES))
    if wrong:
        raise ValueError(
            f"dwell targets exist only for lead, mql, sql, opportunity, not {', '.join(wrong)}"
        )
    return dwell


def _positive_limits(limits: dict[str, timedelta]) -> dict[str, timedelta]:
    wrong = sorted(name for name, limit in limits.items() if limit <= timedelta(0))
    if wrong:
        raise ValueError(f"limits must be longer than zero, not for {', '.join(wrong)}")
    return limits


class Targets(_Strict):
    qualified_to_won_ratio: RatioBand = RatioBand()
    closed_deals: dict[PeriodKind, Annotated[float, Field(ge=0)]] = Field(
        default_factory=_default_closed_deals
    )
    mql_to_sql_min_ratio: Share = 0.20
    lead_to_mql_max_wow_drop_ratio: Share = 0.25
    stage_dwell_max: dict[Stage, Duration] = Field(default_factory=_default_dwell)
    response_max: Duration = timedelta(hours=24)
    # Per-lead milestone alerts (projections.milestones): a first contact is due
    # this long after the MQL entry, by the score tier at that entry (tiers left out
    # get no alert); an open opportunity may sit this long in a pipeline sub-stage.
    response_max_by_tier: dict[str, Duration] = Field(default_factory=_default_response_by_tier)
    # None: the response clock runs around the clock; else only in these hours.
    response_business_hours: BusinessHours | None = None
    pipeline_stage_max: dict[str, Duration] = Field(default_factory=_default_pipeline_stage_max)
    # A breach whose deadline lies further back is history, not an alert: without
    # it, importing years of uncontacted MQLs would raise one alert for each. None:
    # no limit.
    milestone_max_age: Duration | None = timedelta(days=30)
    # Longest healthy average stay in any one pipeline sub-stage of closed deals.
    pipeline_stage_dwell_max: Duration = timedelta(days=30)

    @field_validator("stage_dwell_max")
    @classmethod
    def _leavable(cls, dwell: dict[Stage, timedelta]) -> dict[Stage, timedelta]:
        return _leavable_only(dwell)

    @field_validator("response_max_by_tier", "pipeline_stage_max")
    @classmethod
    def _positive(cls, limits: dict[str, timedelta]) -> dict[str, timedelta]:
        return _positive_limits(limits)

    def closed_goal(self, kind: PeriodKind) -> float | None:
        return self.closed_deals.get(kind)


class TargetOverrides(_Strict):
    """Per-source targets; anything left out falls back to the global target."""

    qualified_to_won_ratio: RatioBand | None = None
    closed_deals: dict[PeriodKind, Annotated[float, Field(ge=0)]] | None = None
    mql_to_sql_min_ratio: Share | None = None
    lead_to_mql_max_wow_drop_ratio: Share | None = None
    stage_dwell_max: dict[Stage, Duration] | None = None
    response_max: Duration | None = None
    response_max_by_tier: dict[str, Duration] | None = None
    response_business_hours: BusinessHours | None = None
    pipeline_stage_max: dict[str, Duration] | None = None
    milestone_max_age: Duration | None = None
    pipeline_stage_dwell_max: Duration | None = None

    @field_validator("stage_dwell_max")
    @classmethod
    def _leavable(cls, dwell: dict[Stage, timedelta] | None) -> dict[Stage, timedelta] | None:
        return None if dwell is None else _leavable_only(dwell)

    @field_validator("response_max_by_tier", "pipeline_stage_max")
    @classmethod
    def _positive(cls, limits: dict[str, timedelta] | None) -> dict[str, timedelta] | None:
        return None if limits is None else _positive_limits(limits)


class ScoreTier(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=32)]
    min_score: Annotated[int, Field(ge=0, le=100)]


def default_tiers() -> tuple[ScoreTier, ...]:
    return (
        ScoreTier(name="cold", min_score=0),
        ScoreTier(name="warm", min_score=40),
        ScoreTier(name="hot", min_score=70),
    )


UNSCORED = "unscored"


# Sources are free text from producers. A source keeps its own label only if it is
# listed or looks like a channel name: lowercase words joined by _ or -, at most 32
# characters ("paid_search", "trade-show"). Anything else (a lead id written into
# `source` by a producer bug, a URL, a person's name) is counted under OTHER_SOURCE,
# so a bad producer cannot multiply the series. A pure function of the lead's own
# source: the same events give the same labels in any order, on any worker.
DEFAULT_SOURCE_PATTERN = r"[a-z]+(?:[_-][a-z]+)*"
MAX_SOURCE_LENGTH = 32
OTHER_SOURCE = "other"


def _regular_expression(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"not a regular expression: {error}") from error
    return pattern


class SourceLabels(_Strict):
    """Which lead sources get a `source` label of their own; the rest are `other`."""

    # Always kept (and only these, plus per-source target overrides, when
    # `pattern` is empty).
    tracked: tuple[Annotated[str, Field(min_length=1, max_length=64)], ...] = ()
    # Kept too when they match it whole; "" keeps only the tracked ones.
    pattern: str = DEFAULT_SOURCE_PATTERN
    max_length: Annotated[int, Field(gt=0, le=64)] = MAX_SOURCE_LENGTH

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        return _regular_expression(pattern)

    def keeps(self, source: str) -> bool:
        if source in self.tracked:
            return True
        return (
            bool(self.pattern)
            and len(source) <= self.max_length
            and re.fullmatch(self.pattern, source) is not None
        )


# Campaigns and segments are free text too, and name things marketing creates every
# week ("webinar-2026-03"): digits are allowed. A value beyond the tracked list and
# the pattern is counted under OTHER_SOURCE ("other"); a lead with no value under
# "unknown", as for sources. The label is a pure function of the lead's own value,
# so it is the same in any order, on any worker.
DEFAULT_BREAKDOWN_PATTERN = r"[a-z0-9]+(?:[_-][a-z0-9]+)*"
MAX_BREAKDOWN_LENGTH = 48


class BreakdownLabels(_Strict):
    """Which values of one lead attribute (campaign, segment) get a label of their own."""

    tracked: tuple[Annotated[str, Field(min_length=1, max_length=64)], ...] = ()
    # Kept too when they match it whole; "" keeps only the tracked ones.
    pattern: str = DEFAULT_BREAKDOWN_PATTERN
    max_length: Annotated[int, Field(gt=0, le=64)] = MAX_BREAKDOWN_LENGTH

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        return _regular_expression(pattern)

    def label(self, value: str | None) -> str:
        """The label of a lead whose attribute is `value`: itself, `other` or `unknown`."""
        if value is None:
            return UNKNOWN_VALUE
        if value in self.tracked or (
            self.pattern
            and len(value) <= self.max_length
            and re.fullmatch(self.pattern, value) is not None
        ):
            return value
        return OTHER_SOURCE


UNKNOWN_VALUE = "unknown"


class Breakdowns(_Strict):
    """The lead attributes the funnel is also broken down by; None turns one off."""

    campaign: BreakdownLabels | None = BreakdownLabels()
    segment: BreakdownLabels | None = BreakdownLabels()


class HistoryDepth(_Strict):
    """How many completed periods of each kind a live export keeps before the current one.

    1 keeps the previous period only (window "previous"); more add older ones
    (window "past"). The defaults reach one year back for months and quarters, so a
    board can compare this period and the previous one with the same periods a year
    before; days and weeks keep five and three months. Series grow linearly with the
    depth (see the README's cardinality note), so the bounds are firm.
    """

    day: Annotated[int, Field(ge=1, le=1096)] = 35
    week: Annotated[int, Field(ge=1, le=157)] = 13
    month: Annotated[int, Field(ge=1, le=36)] = 13
    quarter: Annotated[int, Field(ge=1, le=12)] = 5

    def of(self) -> dict[PeriodKind, int]:
        return {kind: getattr(self, str(kind)) for kind in PeriodKind}


class Funnel(_Strict):
    """Everything the folds need to know about the business's funnel."""

    qualified_stage: Stage = Stage.SQL
    timezone: str = "UTC"
    vocabulary: Vocabulary = Vocabulary()
    score_tiers: tuple[ScoreTier, ...] = Field(default_factory=default_tiers)
    targets: Targets = Targets()
    sources: dict[str, TargetOverrides] = Field(default_factory=dict)
    source_labels: SourceLabels = SourceLabels()
    evidence: Evidence = Evidence()
    history: HistoryDepth = HistoryDepth()
    breakdowns: Breakdowns = Breakdowns()

    @field_validator("qualified_stage")
    @classmethod
    def _qualifiable(cls, stage: Stage) -> Stage:
        if stage not in QUALIFIABLE_STAGES:
            raise ValueError(
                f"the qualified stage must be one of mql, sql, opportunity, not {stage}"
            )
        return stage

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {zone!r}") from error
        return zone

    @field_validator("score_tiers")
    @classmethod
    def _tiers_sorted(cls, tiers: tuple[ScoreTier, ...]) -> tuple[ScoreTier, ...]:
        ordered = tuple(sorted(tiers, key=lambda tier: tier.min_score))
        if not ordered or ordered[0].min_score != 0:
            raise ValueError("score tiers must start at min_score 0")
        if len({tier.name for tier in ordered}) != len(ordered):
            raise ValueError("score tier names must be unique")
        return ordered

    @model_validator(mode="after")
    def _milestones_name_known_tiers_and_stages(self) -> Self:
        # Only limits given explicitly are checked: the built-in ones name the default
        # tiers and pipeline stages, and simply never apply to a funnel without them.
        tiers = {tier.name for tier in self.score_tiers} | {UNSCORED}
        stages = set(self.vocabulary.pipeline_stages)
        for where, targets in (
            ("targets", self.targets),
            *((f"sources.{source}", overrides) for source, overrides in self.sources.items()),
        ):
            given = targets.model_fields_set
            for key, known, kind in (
                ("response_max_by_tier", tiers, "score tier (tiers"),
                ("pipeline_stage_max", stages, "pipeline stage (stages"),
            ):
                limits = getattr(targets, key)
                unknown = sorted(set(limits) - known) if key in given and limits else []
                if unknown:
                    raise ValueError(
                        f"{where}.{key}: {', '.join(unknown)} is not a "
                        f"{kind}: {', '.join(sorted(known))})"
                    )
        return self

    def tier_of(self, score: int | None) -> str:
        if score is None:
            return UNSCORED
        name = self.score_tiers[0].name
        for tier in self.score_tiers:
            if score >= tier.min_score:
                name = tier.name
        return name

    def source_label(self, source: str) -> str:
        """The `source` label of a lead whose source is `source`: itself, or `other`."""
        if source in self.sources or self.source_labels.keeps(source):
            return source
        return OTHER_SOURCE

    def targets_for(self, source: str | None) -> Targets:
        """The effective targets of a source (None: the overall targets)."""
        overrides = self.sources.get(source) if source is not None else None
        if overrides is None:
            return self.targets
        changes = overrides.model_dump(exclude_none=True)
        return self.targets.model_copy(update={k: getattr(overrides, k) for k in changes})

    def cohort_pairs(self) -> tuple[tuple[Stage, Stage], ...]:
        pairs = [(Stage(start), Stage(end)) for start, end in catalog.MAIN_PAIRS]
        return tuple(dict.fromkeys([*pairs, (self.qualified_stage, Stage.WON)]))
