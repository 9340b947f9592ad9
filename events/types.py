"""Event types, funnel stages and the orders the contract defines between them."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    LEAD_CREATED = "lead.created"
    LEAD_SCORED = "lead.scored"
    LEAD_MQL = "lead.mql"
    LEAD_CONTACTED = "lead.contacted"
    LEAD_SQL = "lead.sql"
    LEAD_REJECTED = "lead.rejected"
    OPPORTUNITY_CREATED = "opportunity.created"
    OPPORTUNITY_STAGE_CHANGED = "opportunity.stage_changed"
    DEAL_WON = "deal.won"
    DEAL_LOST = "deal.lost"


class Stage(StrEnum):
    LEAD = "lead"
    MQL = "mql"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    REJECTED = "rejected"
    WON = "won"
    LOST = "lost"


# The funnel stage each event type enters; scored, contacted and stage_changed enter none.
STAGE_ENTERED: dict[EventType, Stage] = {
    EventType.LEAD_CREATED: Stage.LEAD,
    EventType.LEAD_MQL: Stage.MQL,
    EventType.LEAD_SQL: Stage.SQL,
    EventType.LEAD_REJECTED: Stage.REJECTED,
    EventType.OPPORTUNITY_CREATED: Stage.OPPORTUNITY,
    EventType.DEAL_WON: Stage.WON,
    EventType.DEAL_LOST: Stage.LOST,
}

MAIN_STAGES: tuple[Stage, ...] = (Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.WON)
EXIT_STAGES: tuple[Stage, ...] = (Stage.REJECTED, Stage.WON, Stage.LOST)
# Stages a lead can leave (exits and dwell are reported for these).
LEAVABLE_STAGES: tuple[Stage, ...] = (Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY)
# Tie-break for entries at the same instant (contract §3).
TIMELINE_ORDER: tuple[Stage, ...] = (
    Stage.LEAD,
    Stage.MQL,
    Stage.SQL,
    Stage.OPPORTUNITY,
    Stage.REJECTED,
    Stage.WON,
    Stage.LOST,
)
QUALIFIABLE_STAGES: tuple[Stage, ...] = (Stage.MQL, Stage.SQL, Stage.OPPORTUNITY)
