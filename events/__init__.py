"""The event contract: wire models, decoding to normalised events, and JSON Schema."""

from events.decode import Event, Rejection, RejectReason, decode, now_micros, to_micros
from events.types import LEAVABLE_STAGES, EventType, Stage
from events.vocabulary import Vocabulary

__all__ = [
    "LEAVABLE_STAGES",
    "Event",
    "EventType",
    "RejectReason",
    "Rejection",
    "Stage",
    "Vocabulary",
    "decode",
    "now_micros",
    "to_micros",
]
