"""The wire contract: one pydantic model per event type, as upstream producers send them.

Strict mode is deliberate: the contract says a score of 50.0 or `true` is not an
integer, and a timestamp must be an RFC 3339 string with an offset, so nothing is
coerced.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic_core import PydanticCustomError

Id = Annotated[str, Field(min_length=1, max_length=128)]
Source = Annotated[str, Field(min_length=1, max_length=64)]
Attribute = Annotated[str, Field(min_length=1, max_length=128)]
Score = Annotated[int, Field(ge=0, le=100)]
# Bounded so that cents (amount * 100) and their sums stay finite floats and exact ints.
MAX_AMOUNT = 1e15
Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
Reason = Annotated[str, Field(min_length=1, max_length=128)]
PipelineStage = Annotated[str, Field(min_length=1, max_length=64)]

# A date and a time, as RFC 3339 has them; the offset is left to AwareDatetime so a
# missing one is reported as such. Without this check pydantic also reads strings
# like "1767225600" as seconds since the epoch: no offset, silently taken as UTC.
# The check hands AwareDatetime a Python str, which only lax mode parses; it
# rejects every non-string itself, so lax mode coerces nothing else.
_RFC3339_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_shape(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "Input should be a valid datetime")
    if not _RFC3339_SHAPE.match(value):
        raise PydanticCustomError("datetime_parsing", "Input should be an RFC 3339 timestamp")
    return value


OccurredAt = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_rfc3339_shape)]


class _Event(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    event_id: Id
    lead_id: Id
    occurred_at: OccurredAt
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
