"""Bulk messages: one Kafka message (or replay line) carrying a JSON array of events.

A compatible extension of the contract: a value whose first non-blank byte is `[`
is a batch, and each element is decoded (and, if bad, dead-lettered) on its own,
with its original bytes. Anything else is a single event, as before.

A bulk message holds at most MAX_BATCH_ELEMENTS events: a bigger array (one
megabyte of `[1,1,1,...]` is half a million elements, each a dead letter) is
decoded as one message instead and dead-lettered once, whole.
"""

from __future__ import annotations

import msgspec

MAX_BATCH_ELEMENTS = 10_000
_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])
_BLANK = b" \t\r\n"


def split_batch(raw: bytes, max_elements: int = MAX_BATCH_ELEMENTS) -> list[bytes] | None:
    """The elements' bytes if `raw` is a JSON array of at most `max_elements`, else None.

    None means "a single event": an array that is not valid JSON, is nested too
    deeply to parse, or has too many elements is then decoded as one event and
    rejected (not-json, not-object or too-large), bytes intact.
    """
    if not raw.lstrip(_BLANK).startswith(b"["):
        return None
    try:
        elements = _ELEMENTS.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    if len(elements) > max_elements:
        return None
    return [bytes(element) for element in elements]


def join_batch(elements: list[bytes]) -> bytes:
    """A batch message from JSON-object lines, each kept byte for byte."""
    return b"[" + b",".join(elements) + b"]"
