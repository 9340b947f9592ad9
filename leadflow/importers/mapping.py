"""How CRM vocabulary becomes contract vocabulary: the import mapping and its defaults.

The defaults below are the only copy: each CRM's out-of-the-box lifecycle stages,
lead statuses, deal/opportunity stages, sources and column names. A mapping file
(`--mapping`) adds entries to these tables or overrides them; `leadflow import
CRM --print-mapping` prints the merged result. Targets are checked against the
funnel config (pipeline stages, reasons) so a typo fails before any row is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from events import EventType, Vocabulary
from leadflow.importers.cells import norm_key
from leadflow.importers.timestamps import Stamp

IGNORE = "ignore"
WON, LOST = "won", "lost"

# Contract types a lifecycle stage, lead status or date field may stand for.
FUNNEL_TYPES = (
    EventType.LEAD_CREATED,
    EventType.LEAD_MQL,
    EventType.LEAD_CONTACTED,
    EventType.LEAD_SQL,
    EventType.LEAD_REJECTED,
    EventType.OPPORTUNITY_CREATED,
    EventType.DEAL_WON,
    EventType.DEAL_LOST,
)

# HubSpot: lifecycle stages by label and by internal value (API exports use those).
HUBSPOT_LIFECYCLE_STAGES = {
    "Subscriber": IGNORE,
    "Lead": "lead.created",
    "Marketing Qualified Lead": "lead.mql",
    "marketingqualifiedlead": "lead.mql",
    "Sales Qualified Lead": "lead.sql",
    "salesqualifiedlead": "lead.sql",
    "Opportunity": "opportunity.created",
    "Customer": "deal.won",
    "Evangelist": IGNORE,
    "Other": IGNORE,
    "Other Lifecycle": IGNORE,
}
HUBSPOT_LEAD_STATUSES = {
    "New": IGNORE,
    "Open": IGNORE,
    "In Progress": IGNORE,
    "Open Deal": IGNORE,
    "Attempted to Contact": IGNORE,
    "Connected": IGNORE,
    "Unqualified": "lead.rejected:wrong_fit",
    "Bad Timing": "lead.rejected:bad_timing",
}
HUBSPOT_DEAL_STAGES = {
    "Appointment Scheduled": "discovery",
    "appointmentscheduled": "discovery",
    "Qualified to Buy": "discovery",
    "qualifiedtobuy": "discovery",
    "Presentation Scheduled": "demo",
    "presentationscheduled": "demo",
    "Decision Maker Bought-In": "proposal",
    "decisionmakerboughtin": "proposal",
    "Contract Sent": "negotiation",
    "contractsent": "negotiation",
    "Closed Won": WON,
    "closedwon": WON,
    "Closed Lost": LOST,
    "closedlost": LOST,
}
HUBSPOT_SOURCES = {
    "Organic Search": "organic_search",
    "Paid Search": "paid_search",
    "Email Marketing": "email_marketing",
    "Organic Social": "organic_social",
    "Social Media": "organic_social",
    "Paid Social": "paid_social",
    "Referrals": "referral",
    "Other Campaigns": "other_campaigns",
    "Direct Traffic": "direct_traffic",
    "Offline Sources": "offline",
}
HUBSPOT_COLUMNS = {
    "record_id": ["Record ID", "Contact ID", "Deal ID", "hs_object_id"],
    "source": ["Original Source", "Original Traffic Source", "hs_analytics_source"],
    "source_drill_down": [
        "Original Source Drill-Down 1",
        "Original Traffic Source Drill-Down 1",
        "hs_analytics_source_data_1",
    ],
    "score": ["HubSpot Score", "hubspotscore"],
    "lead_status": ["Lead Status", "hs_lead_status"],
    "status_date": ["Last Modified Date", "lastmodifieddate"],
    "create_date": ["Create Date", "createdate"],
    "deal_stage": ["Deal Stage", "dealstage"],
    "pipeline": ["Pipeline"],
    "close_date": ["Close Date", "closedate"],
    "amount": ["Amount"],
    "closed_lost_reason": ["Closed Lost Reason", "closed_lost_reason"],
    "deal_contacts": ["Associated Contact IDs", "Associated Contact ID", "Contact IDs"],
    "deal_source": ["Original Source Type", "Original Traffic Source", "hs_analytics_source"],
    "last_modified": ["Last Modified Date", "hs_lastmodifieddate"],
}

# Salesforce: Lead Status values of the classic and the Lightning default picklists.
SALESFORCE_LEAD_STATUSES = {
    "Open - Not Contacted": IGNORE,
    "Working - Contacted": IGNORE,
    "Closed - Converted": IGNORE,
    "Closed - Not Converted": "lead.rejected:other",
    "New": IGNORE,
    "Working": IGNORE,
    "Nurturing": IGNORE,
    "Qualified": IGNORE,
    "Unqualified": "lead.rejected:wrong_fit",
}
SALESFORCE_OPPORTUNITY_STAGES = {
    "Prospecting": "discovery",
    "Qualification": "discovery",
    "Needs Analysis": "discovery",
    "Value Proposition": "demo",
    "Id. Decision Makers": "demo",
    "Perception Analysis": "proposal",
    "Proposal/Price Quote": "proposal",
    "Negotiation/Review": "negotiation",
    "Closed Won": WON,
    "Closed Lost": LOST,
}
SALESFORCE_SOURCES = {
    "Web": "web",
    "Phone Inquiry": "phone",
    "Partner Referral": "partner",
    "Purchased List": "purchased_list",
    "Other": "other",
    "Advertisement": "advertisement",
    "Employee Referral": "referral",
    "External Referral": "referral",
    "Partner": "partner",
    "Public Relations": "public_relations",
    "Seminar - Internal": "seminar",
    "Seminar - Partner": "seminar",
    "Trade Show": "events",
    "Word of mouth": "referral",
}
# Date fields of the Lead object and the type each stands for. Keys are logical
# column names (below) or header names, e.g. a custom `MQL_Date__c: lead.mql`.
SALESFORCE_LEAD_DATES = {
    "created_date": "lead.created",
    "converted_date": "lead.sql",
}
SALESFORCE_COLUMNS = {
    "id": ["Id", "Lead ID", "Opportunity ID"],
    "created_date": ["CreatedDate", "Created Date", "Create Date"],
    "source": ["LeadSource", "Lead Source"],
    "status": ["Status", "Lead Status"],
    "converted": ["IsConverted", "Converted"],
    "converted_date": ["ConvertedDate", "Converted Date"],
    "converted_opportunity": ["ConvertedOpportunityId", "Converted Opportunity ID"],
    "status_date": ["LastModifiedDate", "Last Modified Date"],
    "stage": ["StageName", "Stage"],
    "amount": ["Amount"],
    "closed": ["IsClosed", "Closed"],
    "won": ["IsWon", "Won"],
    "close_date": ["CloseDate", "Close Date"],
    # Salesforce has no standard loss-reason field; these are the usual custom ones.
    "loss_reason": ["Loss_Reason__c", "Reason_Lost__c", "Closed_Lost_Reason__c", "Loss Reason"],
    "last_modified": ["LastModifiedDate", "Last Modified Date"],
    "opportunity": ["OpportunityId", "Opportunity ID"],
}

# Free-text loss reasons as people type them; the configured names match themselves.
LOSS_REASONS = {
    "Too expensive": "price",
    "Pricing": "price",
    "Budget": "price",
    "Lost to competitor": "competitor",
    "Competition": "competitor",
    "Went dark": "no_decision",
    "No decision": "no_decision",
    "Bad timing": "timing",
    "Not a fit": "product_fit",
    "Missing features": "product_fit",
    "Product fit": "product_fit",
}

_DEFAULTS: dict[str, dict[str, Mapping[str, Any]]] = {
    "hubspot": {
        "lifecycle_stages": HUBSPOT_LIFECYCLE_STAGES,
        "lead_statuses": HUBSPOT_LEAD_STATUSES,
        "deal_stages": HUBSPOT_DEAL_STAGES,
        "sources": HUBSPOT_SOURCES,
        "loss_reasons": LOSS_REASONS,
        "columns": HUBSPOT_COLUMNS,
    },
    "salesforce": {
        "lead_dates": SALESFORCE_LEAD_DATES,
        "lead_statuses": SALESFORCE_LEAD_STATUSES,
        "opportunity_stages": SALESFORCE_OPPORTUNITY_STAGES,
        "sources": SALESFORCE_SOURCES,
        "loss_reasons": LOSS_REASONS,
        "columns": SALESFORCE_COLUMNS,
    },
}


class MappingError(ValueError):
    """A mapping whose targets the funnel doesn't know; the message lists every one."""


class Target(NamedTuple):
    """What a CRM value turns into: an event type (None: nothing) and its reason."""

    type: EventType | None
    reason: str | None = None


class StageTarget(NamedTuple):
    """A deal/opportunity stage: a pipeline stage, an outcome (won, lost) or nothing."""

    outcome: str  # "pipeline", WON, LOST or IGNORE
    stage: str | None = None


def _merged(section: str, info: ValidationInfo, given: Any) -> Any:
    # Given tables extend the defaults: a company that renamed one stage writes one line.
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        return given  # let pydantic say what is wrong with it
    defaults = _DEFAULTS[section][info.field_name or ""]
    return {**defaults, **given}


def _known_columns(section: str, columns: dict[str, list[str]]) -> dict[str, list[str]]:
    known = _DEFAULTS[section]["columns"]
    unknown = sorted(set(columns) - set(known))
    if unknown:
        raise ValueError(f"unknown columns {unknown}; known: {sorted(known)}")
    return columns


class _CrmMapping(BaseModel):
    """What every CRM section has: value maps merged over the defaults, known columns."""

    # validate_default: the defaults pass through the merge validator too.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
    SECTION: ClassVar[str]

    sources: dict[str, str] = Field(default_factory=dict)
    loss_reasons: dict[str, str] = Field(default_factory=dict)
    columns: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("*", mode="before")
    @classmethod
    def _over_defaults(cls, given: Any, info: ValidationInfo) -> Any:
        return _merged(cls.SECTION, info, given)

    @field_validator("columns")
    @classmethod
    def _columns(cls, columns: dict[str, list[str]]) -> dict[str, list[str]]:
        return _known_columns(cls.SECTION, columns)


class HubSpotMapping(_CrmMapping):
    SECTION: ClassVar[str] = "hubspot"

    lifecycle_stages: dict[str, str] = Field(default_factory=dict)
    lead_statuses: dict[str, str] = Field(default_factory=dict)
    deal_stages: dict[str, str] = Field(default_factory=dict)


class SalesforceMapping(_CrmMapping):
    SECTION: ClassVar[str] = "salesforce"

    lead_dates: dict[str, str] = Field(default_factory=dict)
    lead_statuses: dict[str, str] = Field(default_factory=dict)
    opportunity_stages: dict[str, str] = Field(default_factory=dict)


class ImportMapping(BaseModel):
    """The whole mapping file: one section per CRM, each optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hubspot: HubSpotMapping = Field(default_factory=lambda: HubSpotMapping.model_validate({}))
    salesforce: SalesforceMapping = Field(
        default_factory=lambda: SalesforceMapping.model_validate({})
    )


@dataclass(frozen=True)
class Rules:
    """A mapping section checked against the funnel, with every key in comparable form."""

    funnel_types: dict[str, Target]  # lifecycle stages (HubSpot), lead dates (Salesforce)
    statuses: dict[str, Target]
    stages: dict[str, StageTarget]
    sources: dict[str, str]
    loss_reasons: dict[str, str]
    columns: dict[str, tuple[str, ...]]
    vocabulary: Vocabulary

    def loss_reason(self, raw: str) -> tuple[str, bool]:
        """The configured reason for a CRM's loss reason, and whether it was mapped."""
        key = norm_key(raw)
        if key in self.loss_reasons:
            return self.loss_reasons[key], True
        configured = canonical_reason(raw, self.vocabulary.loss_reasons)
        if configured is not None:
            return configured, True
        return "other", False


def compile_rules(section: HubSpotMapping | SalesforceMapping, vocabulary: Vocabulary) -> Rules:
    """Check every target against the funnel's lists; raise one error listing all problems."""
    problems: list[str] = []
    name = section.SECTION
    if isinstance(section, HubSpotMapping):
        types_table, types_key = section.lifecycle_stages, "lifecycle_stages"
        stages_table, stages_key = section.deal_stages, "deal_stages"
    else:
        types_table, types_key = section.lead_dates, "lead_dates"
        stages_table, stages_key = section.opportunity_stages, "opportunity_stages"

    def targets(table: Mapping[str, str], key: str) -> dict[str, Target]:
        out: dict[str, Target] = {}
        for raw, text in table.items():
            try:
                out[norm_key(raw)] = parse_target(text, vocabulary)
            except ValueError as error:
                problems.append(f"{name}.{key}[{raw!r}]: {error}")
        return out

    def stage_targets(table: Mapping[str, str], key: str) -> dict[str, StageTarget]:
        out: dict[str, StageTarget] = {}
        for raw, text in table.items():
            try:
                out[norm_key(raw)] = parse_stage_target(text, vocabulary)
            except ValueError as error:
                problems.append(f"{name}.{key}[{raw!r}]: {error}")
        return out

    reasons: dict[str, str] = {}
    for raw, reason in section.loss_reasons.items():
        canonical = canonical_reason(reason, vocabulary.loss_reasons)
        if canonical is None:
            problems.append(
                f"{name}.loss_reasons[{raw!r}]: {reason!r} is not a configured loss reason "
                f"({', '.join(vocabulary.loss_reasons)})"
            )
        else:
            reasons[norm_key(raw)] = canonical
    sources: dict[str, str] = {}
    for raw, source in section.sources.items():
        if not 1 <= len(source.strip()) <= 64:
            problems.append(f"{name}.sources[{raw!r}]: a source is 1-64 characters")
        sources[norm_key(raw)] = source.strip()
    rules = Rules(
        funnel_types=targets(types_table, types_key),
        statuses=targets(section.lead_statuses, "lead_statuses"),
        stages=stage_targets(stages_table, stages_key),
        sources=sources,
        loss_reasons=reasons,
        columns={
            key: tuple(norm_key(a) for a in aliases) for key, aliases in section.columns.items()
        },
        vocabulary=vocabulary,
    )
    if problems:
        raise MappingError("\n".join(f"  {problem}" for problem in problems))
    return rules


def parse_target(text: str, vocabulary: Vocabulary) -> Target:
    """`ignore`, an event type, or `lead.rejected:<reason>` / `deal.lost:<reason>`."""
    value = text.strip()
    if value.lower() == IGNORE:
        return Target(None)
    kind_text, _, reason = value.partition(":")
    try:
        kind = EventType(kind_text.strip())
    except ValueError:
        kind = None
    if kind not in FUNNEL_TYPES:
        choices = ", ".join(str(t) for t in FUNNEL_TYPES)
        raise ValueError(f"{value!r} is not {IGNORE} nor one of {choices}")
    if kind is EventType.LEAD_REJECTED:
        reasons = vocabulary.rejection_reasons
    elif kind is EventType.DEAL_LOST:
        reasons = vocabulary.loss_reasons
    else:
        if reason:
            raise ValueError(f"{kind} carries no reason")
        return Target(kind)
    canonical = canonical_reason(reason or "other", reasons)
    if canonical is None:
        raise ValueError(f"{reason!r} is not a configured reason ({', '.join(reasons)})")
    return Target(kind, canonical)


def parse_stage_target(text: str, vocabulary: Vocabulary) -> StageTarget:
    """A configured pipeline stage, `won`, `lost` or `ignore`."""
    value = text.strip().lower()
    if value in (WON, LOST, IGNORE):
        return StageTarget(value)
    stage = vocabulary.pipeline_stage(value)
    if stage is None:
        raise ValueError(
            f"{text!r} is not a configured pipeline stage "
            f"({', '.join(vocabulary.pipeline_stages)}) nor {WON}, {LOST}, {IGNORE}"
        )
    return StageTarget("pipeline", stage)


def canonical_reason(text: str, allowed: tuple[str, ...]) -> str | None:
    """A reason as configured (`No budget` → `no_budget`), or None if it isn't one."""
    value = text.strip().lower()
    if value in allowed:
        return value
    joined = "_".join(value.split())
    return joined if joined in allowed else None


def dated_status(
    raw: str,
    statuses: dict[str, Target],
    date: Callable[[], Stamp | None],
    crm: str,
    unknown: list[tuple[str, str, str]],
    note: Callable[[str], None],
) -> tuple[Target, Stamp] | None:
    """The event a lead status maps to, dated by `date()`; unknown statuses reported."""
    if not raw:
        return None
    target = statuses.get(norm_key(raw))
    if target is None:
        unknown.append((f"{crm} lead status", raw, "ignored"))
        return None
    if target.type is None:
        return None
    when = date()
    if when is None:
        note(f"lead status {raw!r} without a date: not imported")
        return None
    return target, when
