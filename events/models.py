"""The wire contract: one pydantic model per event type, as upstream producers send them.

Strict mode is deliberate: the contract says a score of 50.0 or `true` is not an
integer, and a timestamp must be an RFC 3339 string with an offset, so nothing is
coerced.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

Id = Annotated[str, Field(min_length=1, max_length=128)]
Source = Annotated[str, Field(min_length=1, max_length=64)]
Attribute = Annotated[str, Field(min_length=1, max_length=128)]
Score = Annotated[int, Field(ge=0, le=100)]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Reason = Annotated[str, Field(min_length=1, max_length=128)]
PipelineStage = Annotated[str, Field(min_length=1, max_length=64)]


class _Event(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    event_id: Id
    lead_id: Id
    occurred_at: AwareDatetime
    schema_version: int = 1


class LeadCreated(_Event):
    """A new lead; its source is the lead's first-touch attribution."""

    type: Literal["lead.created"]
    source: Source
    campaign: Attribute | None = None
    segment: Attribute | None = None
    score: Score | None = None


class LeadScored(_Event):
    type: Literal["lead.scored"]
    score: Score


class LeadMql(_Event):
    type: Literal["lead.mql"]


class LeadContacted(_Event):
    """First sales touch; response time is measured from the MQL to it."""

    type: Literal["lead.contacted"]


class LeadSql(_Event):
    type: Literal["lead.sql"]


class LeadRejected(_Event):
    type: Literal["lead.rejected"]
    reason: Reason


class OpportunityCreated(_Event):
    type: Literal["opportunity.created"]
    amount: Amount | None = None


class OpportunityStageChanged(_Event):
    type: Literal["opportunity.stage_changed"]
    stage: PipelineStage


class DealWon(_Event):
    type: Literal["deal.won"]
    amount: Amount | None = None


class DealLost(_Event):
    type: Literal["deal.lost"]
    reason: Reason


WireEvent = Annotated[
    LeadCreated
    | LeadScored
    | LeadMql
    | LeadContacted
    | LeadSql
    | LeadRejected
    | OpportunityCreated
    | OpportunityStageChanged
    | DealWon
    | DealLost,
    Field(discriminator="type"),
]

WIRE_EVENT: TypeAdapter[WireEvent] = TypeAdapter(WireEvent)
