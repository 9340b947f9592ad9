"""What the gateway answers, as pydantic models: the OpenAPI document is built from them.

The handlers write the same shapes with orjson (a 500-event answer is built per
request); the tests parse real answers with these models, so the two cannot drift.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from events import RejectReason


class AcceptedItem(BaseModel):
    """In Kafka (acks=all) before the answer was sent."""

    index: int = Field(description="position in the request (0 for a single object)")
    status: Literal["accepted"]
    event_id: str
    lead_id: str


class RejectedItem(BaseModel):
    """Refused by the contract, with the reason a worker's dead-letter topic would give."""

    index: int = Field(description="position in the request (0 for a single object)")
    status: Literal["rejected"]
    reason: RejectReason
    detail: str


ItemResult = Annotated[AcceptedItem | RejectedItem, Field(discriminator="status")]


class EventsResponse(BaseModel):
    """Per-event results, in request order."""

    accepted: int
    rejected: int
    results: list[ItemResult]


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate-limited"
    BODY_TOO_LARGE = "body-too-large"
    TOO_MANY_EVENTS = "too-many-events"
    EVENT_TOO_LARGE = "event-too-large"
    NO_EVENTS = "no-events"
    KAFKA_UNAVAILABLE = "kafka-unavailable"


class ErrorResponse(BaseModel):
    """The request as a whole was refused; no event of it was accepted."""

    error: ErrorCode
    detail: str
    retry_after: int | None = Field(
        default=None, description="seconds; also in the Retry-After header (429, 503)"
    )


class Readiness(BaseModel):
    ready: bool
    kafka: str = Field(description="'ok', or why Kafka cannot be used right now")
