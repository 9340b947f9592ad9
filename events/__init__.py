"""The event contract: wire models, decoding to normalised events, and JSON Schema."""

from events.decode import Event, Rejection, RejectReason, decode, from_micros, now_micros, to_micros
from events.types import (
    EXIT_STAGES,
    LEAVABLE_STAGES,
    MAIN_STAGES,
    STAGE_ENTERED,
    TIMELINE_ORDER,
    EventType,
    Stage,
)
from events.vocabulary import Vocabulary

__all__ = [
    "EXIT_STAGES",
    "LEAVABLE_STAGES",
    "MAIN_STAGES",
    "STAGE_ENTERED",
    "TIMELINE_ORDER",
    "Event",
    "EventType",
    "RejectReason",
    "Rejection",
    "Stage",
    "Vocabulary",
    "decode",
    "from_micros",
    "now_micros",
    "to_micros",
]
